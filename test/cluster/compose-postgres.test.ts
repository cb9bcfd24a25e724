/**
 * docker/postgres-init.sh, the compose file's PostgreSQL first start, run as the image runs it
 * (an executable in /docker-entrypoint-initdb.d with the container's environment, psql as the
 * superuser) against a fresh PostgreSQL cluster of its own (the roles it creates are
 * cluster-wide, so not on the shared server). Then the system itself on those roles, with
 * passwords required: each service owns its own database and nothing else.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { describeWithInfra } from "../helpers/infra";
import { PrivatePostgres } from "../helpers/private-infra";
import { startSystem, type TestSystem, removeDir } from "../helpers/system";
import { client } from "../helpers/http";

jest.setTimeout(60_000);

const run = promisify(execFile);
const SCRIPT = path.resolve(__dirname, "../../docker/postgres-init.sh");

// quotes, a semicolon and a comment marker: psql's :'var' must keep them a literal, never SQL
const PASSWORDS = { clients: "cl'ients;-- pw 1", goals: "go'als\" pw 2" };

describeWithInfra(["postgres"], "docker/postgres-init.sh", () => {
	const pg = new PrivatePostgres();
	let system: TestSystem | undefined;

	const uri = (role: "clients" | "goals", password: string, database: string = role) =>
		`postgres://${role}:${encodeURIComponent(password)}@127.0.0.1:${pg.port}/${database}`;

	async function query<T>(connectionString: string, text: string): Promise<T[]> {
		const db = new Client({ connectionString });
		await db.connect();
		try {
			return (await db.query(text)).rows as T[];
		} finally {
			await db.end();
		}
	}

	/** The error a connection attempt ends with, or null if it connects. */
	async function connectError(connectionString: string): Promise<string | null> {
		try {
			await query(connectionString, "SELECT 1");
			return null;
		} catch (err) {
			return (err as Error).message;
		}
	}

	beforeAll(async () => {
		await pg.start();
		await run(SCRIPT, [], {
			env: {
				PATH: process.env.PATH ?? "",
				// what the image's entrypoint gives its init scripts (its socket is our TCP port here)
				PGHOST: "127.0.0.1",
				PGPORT: String(pg.port),
				POSTGRES_USER: "root",
				POSTGRES_DB: "postgres",
				CLIENTS_DB_PASSWORD: PASSWORDS.clients,
				GOALS_DB_PASSWORD: PASSWORDS.goals,
			},
		});
		// as the image does for TCP: passwords required (SCRAM), except for our own superuser
		const [{ hba_file: hba }] = await query<{ hba_file: string }>(pg.uri("postgres"), "SHOW hba_file");
		await writeFile(hba, `local all all trust\nhost all root 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n${await readFile(hba, "utf8")}`);
		await query(pg.uri("postgres"), "SELECT pg_reload_conf()");
	});

	afterAll(async () => {
		if (system) {
			await system.stop();
			removeDir(system.dataDir);
		}
		await pg.destroy();
	});

	test("one login role per service, neither superuser nor able to create roles or databases, each with a SCRAM password", async () => {
		const roles = await query<Record<string, unknown>>(
			pg.uri("postgres"),
			`SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%' AS scram
			   FROM pg_authid WHERE rolname IN ('clients', 'goals') ORDER BY rolname`,
		);
		const role = { rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolcanlogin: true, scram: true };
		expect(roles).toEqual([
			{ rolname: "clients", ...role },
			{ rolname: "goals", ...role },
		]);
		const owners = await query<{ datname: string; owner: string }>(
			pg.uri("postgres"),
			"SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname IN ('clients', 'goals') ORDER BY datname",
		);
		expect(owners).toEqual([
			{ datname: "clients", owner: "clients" },
			{ datname: "goals", owner: "goals" },
		]);
	});

	test("each role connects to its own database with its password, and to nothing else", async () => {
		expect(await connectError(uri("clients", PASSWORDS.clients))).toBeNull();
		expect(await connectError(uri("goals", PASSWORDS.goals))).toBeNull();
		expect(await connectError(uri("clients", PASSWORDS.goals))).toMatch(/password authentication failed/);
		expect(await connectError(uri("clients", PASSWORDS.clients, "goals"))).toMatch(/permission denied for database "goals"/);
		expect(await connectError(uri("goals", PASSWORDS.goals, "clients"))).toMatch(/permission denied for database "clients"/);
		expect(await connectError(uri("goals", PASSWORDS.goals, "postgres"))).toMatch(/permission denied for database "postgres"/);
	});

	test("the system runs on those roles: schema created, a client and its goal written through REST", async () => {
		system = await startSystem({
			env: { CLIENTS_DB_URI: uri("clients", PASSWORDS.clients), GOALS_DB_URI: uri("goals", PASSWORDS.goals) },
		});
		const api = client(system.url);
		const created = await api.post("/clients", { name: "Role Owner", email: "owner@example.com" });
		expect(created.status).toBe(201);
		const goal = await api.post("/goals", { clientId: created.body.id, goalName: "Roof", targetAmount: 1200 });
		expect(goal.status).toBe(201);
		const tables = await query<{ tableowner: string }>(uri("goals", PASSWORDS.goals), "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'");
		expect(tables).toEqual([{ tableowner: "goals" }]);
	});
});
