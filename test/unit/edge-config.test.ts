/**
 * The configuration of the gateway's edge (issue 9): CORS_ORIGINS, the Prometheus endpoint's bind
 * address, and configuration errors that never print a password.
 */
import { Errors } from "moleculer";
import { ConfigError, redactCredentials } from "../../lib/errors";
import { createBrokerOptions, loadConfig } from "../../moleculer.config";
import { configErrorOf } from "../helpers/config-error";

describe("CORS_ORIGINS", () => {
	test("unset or blank: no CORS", () => {
		expect(loadConfig({}).api.corsOrigins).toEqual([]);
		expect(loadConfig({ CORS_ORIGINS: "  " }).api.corsOrigins).toEqual([]);
	});

	test("a comma list, each written as a browser writes Origin (lower case, no default port, no slash)", () => {
		expect(loadConfig({ CORS_ORIGINS: "https://App.Example.com/, http://localhost:5173 ,https://app.example.com:443,," }).api.corsOrigins).toEqual([
			"https://app.example.com",
			"http://localhost:5173",
		]);
	});

	test.each([
		"*",
		"app.example.com",
		"https://app.example.com/path",
		"ftp://app.example.com",
		"https://user:pw@app.example.com",
		"https://app.example.com?x=1",
		"null",
	])("%p is refused, naming CORS_ORIGINS", (value) => {
		const err = configErrorOf({ CORS_ORIGINS: `https://ok.example.com,${value}` });
		expect(err.data).toEqual({ variable: "CORS_ORIGINS" });
		expect(err.message).not.toContain(":pw@");
	});
});

describe("the Prometheus endpoint binds to HOST, or METRICS_HOST (Moleculer's reporter would take 0.0.0.0)", () => {
	const prometheusOf = (env: Record<string, string>) => {
		const reporters = createBrokerOptions(loadConfig(env)).metrics as { reporter: Array<{ type: string; options: Record<string, unknown> }> };
		return reporters.reporter[0];
	};

	test("HOST by default", () => {
		expect(prometheusOf({ METRICS_PORT: "9464" })).toEqual({ type: "Prometheus", options: { port: 9464, host: "127.0.0.1" } });
		expect(prometheusOf({ METRICS_PORT: "9464", HOST: "10.1.2.3" }).options.host).toBe("10.1.2.3");
	});

	test("METRICS_HOST when set", () => {
		expect(prometheusOf({ METRICS_PORT: "9464", HOST: "127.0.0.1", METRICS_HOST: "0.0.0.0" }).options.host).toBe("0.0.0.0");
	});
});

describe("configuration errors never print a password", () => {
	test.each([
		["TRANSPORTER", "rabbit://guest:s3cret@10.0.0.5:5672"],
		["CACHER", "redis://:s3cret@10.0.0.5:6379/x"],
		["CACHER", "memcached://admin:s3cret@cache"],
	])("%s", (variable, value) => {
		const err = configErrorOf({ [variable]: value });
		expect(err.message).toContain(variable);
		expect(err.message).not.toContain("s3cret");
		expect(err.message).toContain(":***@");
	});

	test("redactCredentials masks the password of any URL in a text, even one that is no valid URL", () => {
		expect(redactCredentials("'amqp://guest:guest@127.0.0.1:5672' must be")).toBe("'amqp://guest:***@127.0.0.1:5672' must be");
		expect(redactCredentials("redis://:pw@h and postgres://u:p@ss/w@db:5432/x")).toBe("redis://:***@h and postgres://u:***@db:5432/x");
		expect(redactCredentials("amqp://host:5672/vhost and https://example.com")).toBe("amqp://host:5672/vhost and https://example.com");
	});

	test("a ConfigError is no 4xx and shows only the variable as data", () => {
		const err = new ConfigError("TRANSPORTER", "'amqp://a:b@c' is wrong");
		expect(err).toBeInstanceOf(Errors.MoleculerError);
		expect(err.message).toBe("Invalid configuration TRANSPORTER: 'amqp://a:***@c' is wrong");
		expect(err.data).toEqual({ variable: "TRANSPORTER" });
	});
});
