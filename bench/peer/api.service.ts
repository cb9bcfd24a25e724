/** The peer's gateway: moleculer-web with the five routes the benchmark uses, JSON bodies only. */
import type { ServiceSchema } from "moleculer";
import ApiGateway, { type ApiSettingsSchema } from "moleculer-web";

export function apiService(port: number): ServiceSchema<ApiSettingsSchema> {
	return {
		name: "api",
		mixins: [ApiGateway],
		settings: {
			port,
			ip: "127.0.0.1",
			routes: [
				{
					path: "/api",
					mappingPolicy: "restrict",
					bodyParsers: { json: { limit: "100kb" } },
					aliases: {
						"POST clients": "clients.create",
						"GET clients/:id": "clients.get",
						"PUT clients/:id": "clients.update",
						"POST goals": "goals.create",
						"GET goals/:id": "goals.get",
					},
				},
			],
		},
	};
}
