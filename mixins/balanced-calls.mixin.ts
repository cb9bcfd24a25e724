/**
 * The gateway calls an action by its name, not on the node moleculer-web picked.
 *
 * moleculer-web resolves an endpoint itself and calls it (`ctx.call(endpoint, …)`), which sends
 * the request to that one node's own queue. With the AMQP transporter's shared request queues
 * (`disableBalancer`) that bypasses RabbitMQ's balancing: a request sent to a replica that has
 * just died waits out its timeout (504) in a queue nobody reads, although another replica is up.
 * By name, the request goes to the action's shared queue, and whichever replica is there takes
 * it; a message its executor held when it died is redelivered to another (and the write helper
 * answers it without doing it twice). An action this node serves itself is still called here.
 *
 * moleculer-web's `callAction` is replaced as a whole (it has no hook between resolving and
 * calling); this is the same method with the one change, and the same `req.$endpoint` is still
 * what moleculer-web checked the action's visibility on and shapes the response with.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ActionEndpoint, CallingOptions, Context, ServiceSchema } from "moleculer";

/** The parts of moleculer-web's route and request that callAction reads. */
interface Route {
	logging?: boolean;
	callOptions?: CallingOptions;
	onAfterCall?: (this: unknown, ctx: Context, route: Route, req: GatewayRequest, res: ServerResponse, data: unknown) => unknown;
}

interface GatewayRequest extends IncomingMessage {
	$ctx: Context;
	$endpoint: ActionEndpoint;
	$alias?: { passReqResToParams?: boolean };
}

interface Gateway {
	sendResponse(req: GatewayRequest, res: ServerResponse, data: unknown, action: unknown): void;
	logResponse(req: GatewayRequest, res: ServerResponse, data: unknown): void;
	settings: { logRequest?: string };
	logger: Record<string, (...args: unknown[]) => void>;
}

/** Context.call as Moleculer runs it: an action name, or an endpoint (its types say only names). */
type CallTo = (target: string | ActionEndpoint, params: unknown, opts: CallingOptions) => Promise<unknown>;

export function BalancedCallsMixin(): Partial<ServiceSchema> {
	return {
		methods: {
			async callAction(
				this: Gateway,
				route: Route,
				actionName: string,
				req: GatewayRequest,
				res: ServerResponse,
				params: Record<string, unknown>,
				isStream: boolean,
			): Promise<boolean> {
				const ctx = req.$ctx;
				const logRequest = this.settings.logRequest;
				if (route.logging && logRequest && logRequest in this.logger) this.logger[logRequest](`   Call '${actionName}' action`);
				if (req.$alias?.passReqResToParams) Object.assign(params, { $req: req, $res: res });
				const opts: CallingOptions & { stream?: unknown } = route.callOptions ? { ...route.callOptions } : {};
				if (isStream) opts.stream = req;

				// The one change (see the top of this file): a remote action by name. A local one is
				// still called on this node: the gateway's own actions (`api.ready` says how THIS node
				// is), and a service this node runs itself.
				const endpoint = req.$endpoint;
				const call = ctx.call.bind(ctx) as unknown as CallTo;
				let data = await call(endpoint.local ? endpoint : (endpoint.action.name ?? actionName), params, opts);

				if (route.onAfterCall) data = await route.onAfterCall.call(this, ctx, route, req, res, data);
				this.sendResponse(req, res, data, req.$endpoint.action);
				if (route.logging) this.logResponse(req, res, data);
				return true;
			},
		},
	};
}
