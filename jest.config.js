/** Three kinds of test, one project each: `npm test` runs them all. */
const transform = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
const common = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };

/** @type {import('jest').Config} */
module.exports = {
	projects: [
		{ ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
		{ ...common, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
		{ ...common, displayName: "cluster", testMatch: ["<rootDir>/test/cluster/**/*.test.ts"] },
	],
	// a global option (jest ignores it per project); cluster suites raise it with jest.setTimeout
	testTimeout: 30_000,
	globalSetup: "<rootDir>/jest.global-setup.ts",
	maxWorkers: 2,
};
