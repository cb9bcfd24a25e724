/**
 * A secret that can be rotated without downtime: its variable holds a comma list, the secret in
 * use first. ADMIN_TOKEN accepts any token of its list; TRANSPORTER_SECRET seals packets with the
 * first secret and opens them with any. To rotate, every node gets the new secret second, then
 * first, then the old one is dropped (docs: the rotation procedures). Blank entries are ignored and
 * a repeated one counts once; each must be long enough not to be guessed. A message never repeats a
 * secret.
 */
import { ConfigError } from "../errors";

export function secretList(variable: string, raw: string | undefined, minLength: number): string[] {
	const secrets = [
		...new Set(
			(raw ?? "")
				.split(",")
				.map((entry) => entry.trim())
				.filter(Boolean),
		),
	];
	secrets.forEach((secret, i) => {
		if (secret.length >= minLength) return;
		const which = secrets.length > 1 ? `entry ${i + 1} of ${secrets.length} ` : "";
		throw new ConfigError(variable, `${which}must be at least ${minLength} characters (it has ${secret.length}), e.g. \`openssl rand -hex 32\``);
	});
	return secrets;
}
