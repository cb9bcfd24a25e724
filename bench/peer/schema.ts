/**
 * The peer's tables, one database per service, as a user would keep them in a migration run
 * before the nodes start (two goals replicas creating tables at once would race).
 */

/** The client service's database: its clients, their event log, and its copy of their goals. */
export const CLIENTS_SCHEMA = `
	CREATE TABLE clients (
		id SERIAL PRIMARY KEY,
		name VARCHAR(100) NOT NULL,
		email VARCHAR(254) NOT NULL UNIQUE,
		version INTEGER NOT NULL DEFAULT 1,
		"createdAt" TIMESTAMPTZ NOT NULL DEFAULT now(),
		"updatedAt" TIMESTAMPTZ NOT NULL DEFAULT now());
	CREATE TABLE client_events (
		sequence BIGSERIAL PRIMARY KEY,
		"eventId" UUID NOT NULL UNIQUE,
		"eventType" VARCHAR(16) NOT NULL,
		"clientId" INTEGER NOT NULL,
		version INTEGER NOT NULL,
		payload JSONB NOT NULL);
	CREATE TABLE goals_copy (
		id INTEGER PRIMARY KEY,
		"clientId" INTEGER NOT NULL,
		"goalName" VARCHAR(100) NOT NULL,
		"targetAmount" NUMERIC(14, 2) NOT NULL,
		version INTEGER NOT NULL);
	CREATE INDEX goals_copy_client ON goals_copy ("clientId");
`;

/** The goal service's database: its goals, their event log, and its copy of the clients' names. */
export const GOALS_SCHEMA = `
	CREATE TABLE goals (
		id SERIAL PRIMARY KEY,
		"clientId" INTEGER NOT NULL,
		"goalName" VARCHAR(100) NOT NULL,
		"targetAmount" NUMERIC(14, 2) NOT NULL,
		version INTEGER NOT NULL DEFAULT 1,
		"createdAt" TIMESTAMPTZ NOT NULL DEFAULT now(),
		"updatedAt" TIMESTAMPTZ NOT NULL DEFAULT now());
	CREATE INDEX goals_client ON goals ("clientId");
	CREATE TABLE goal_events (
		sequence BIGSERIAL PRIMARY KEY,
		"eventId" UUID NOT NULL UNIQUE,
		"eventType" VARCHAR(16) NOT NULL,
		"goalId" INTEGER NOT NULL,
		version INTEGER NOT NULL,
		payload JSONB NOT NULL);
	CREATE TABLE clients_copy (
		id INTEGER PRIMARY KEY,
		name VARCHAR(100) NOT NULL,
		version INTEGER NOT NULL);
`;
