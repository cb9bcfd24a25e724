/** One Moleculer node: a broker with the services this configuration asks for. */
import { ServiceBroker } from "moleculer";
import { type AppConfig, createBrokerOptions } from "../moleculer.config";
import { createApiService } from "../services/api.service";
import { createClientsService } from "../services/clients.service";
import { createGoalsService } from "../services/goals.service";

export function createNode(config: AppConfig): ServiceBroker {
	const broker = new ServiceBroker(createBrokerOptions(config));
	if (config.services.includes("clients")) broker.createService(createClientsService(config.clients));
	if (config.services.includes("goals")) broker.createService(createGoalsService(config.goals));
	if (config.services.includes("api")) broker.createService(createApiService(config.api));
	return broker;
}
