/**
 * The gateway opens its port only once every service of its node has started.
 *
 * moleculer-web listens in its own `started` handler, which Moleculer runs side by side with the
 * other services' handlers: a request that came in the moment the port opened could find
 * `clients` or `goals` not started yet and be refused (503). Here moleculer-web is told not to
 * listen itself (`settings.server: false`, set by the api service); its server is created as
 * moleculer-web would, and listens on `$broker.started`, which Moleculer broadcasts once every
 * local service's `started` has resolved. `whenListening` is what `npm start` waits for before it
 * prints the URL.
 *
 * Stopping is the same in reverse: `stopAccepting` closes the port before the broker stops (a
 * Moleculer stop first waits for the requests in flight, and a gateway still accepting new ones
 * under load would never get there: GracefulStopTimeoutError after 5 s); the requests already
 * taken are answered, and once the services stopped the connections kept alive are closed.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServiceBroker, ServiceSchema } from "moleculer";

interface Gateway {
	server: Server;
	settings: { port: number; ip: string };
	createServer(): void;
	broker: ServiceBroker;
	logger: { info(...args: unknown[]): void };
	/** resolves with the address once listening */
	listening: Promise<AddressInfo>;
	startListening(): void;
	/** close the port (idempotent); resolves once every connection has ended */
	stopAccepting(): Promise<void>;
}

export function ListenWhenStartedMixin(): Partial<ServiceSchema> {
	return {
		created() {
			const gateway = this as unknown as Gateway;
			gateway.createServer();
			let listened: (address: AddressInfo) => void = () => undefined;
			gateway.listening = new Promise((resolve) => (listened = resolve));
			gateway.startListening = () => {
				gateway.server.listen(gateway.settings.port, gateway.settings.ip, () => {
					const address = gateway.server.address() as AddressInfo;
					gateway.logger.info(`API Gateway listening on http://${address.address}:${address.port}`);
					listened(address);
				});
			};
			let closed: Promise<void> | null = null;
			gateway.stopAccepting = () => {
				if (!closed) {
					const { server } = gateway;
					closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
					server.closeIdleConnections();
				}
				return closed;
			};
			gateway.server.on("error", (err: NodeJS.ErrnoException) => {
				gateway.broker.fatal(`The API gateway cannot listen on ${gateway.settings.ip}:${gateway.settings.port} (${err.code ?? err.message}).`, err, true);
			});
		},
		events: {
			"$broker.started"() {
				(this as unknown as Gateway).startListening();
			},
		},
		stopped() {
			const gateway = this as unknown as Gateway;
			const closed = gateway.stopAccepting();
			// every request taken was answered before the services stopped: what is left are idle
			// keep-alive connections, which would hold the close for their whole keep-alive time
			gateway.server.closeAllConnections();
			return closed;
		},
	};
}

/** Close the node's REST port, if it has one (the first step of a graceful stop); resolves at once. */
export function stopAccepting(broker: ServiceBroker): void {
	const api = broker.getLocalService("api") as unknown as Partial<Gateway> | undefined;
	void api?.stopAccepting?.();
}

/** The address the node's gateway listens on, once it does; null on a node without the api service. */
export async function whenListening(broker: ServiceBroker): Promise<AddressInfo | null> {
	const api = broker.getLocalService("api") as unknown as Partial<Gateway> | undefined;
	return api?.listening ? api.listening : null;
}
