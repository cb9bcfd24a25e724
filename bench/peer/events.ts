/** The events the peer's services exchange: the contract's ClientEvent and GoalEvent. */

export interface ClientEvent {
	eventId: string;
	eventType: "CREATED" | "UPDATED";
	source: "clients";
	timestamp: string;
	sequence: number;
	version: number;
	clientId: number;
	clientName: string;
	clientEmail: string;
}

export interface GoalEvent {
	eventId: string;
	eventType: "CREATED";
	source: "goals";
	timestamp: string;
	sequence: number;
	version: number;
	goalId: number;
	clientId: number;
	goalName: string;
	targetAmount: number;
}
