/**
 * The page `GET /api/docs` answers: Swagger UI (its files from swagger-ui-dist, served by the
 * gateway under /api/docs/) rendering /api/openapi.json. Kept as text here rather than as files
 * so that the compiled program (npm run build) carries them without a copy step. Relative URLs:
 * the page works under whatever prefix a proxy puts the API.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
	<meta charset="utf-8">
	<title>Clients &amp; Goals API</title>
	<meta name="viewport" content="width=device-width, initial-scale=1">
	<!-- an empty icon: a browser asks for /favicon.ico otherwise, which the gateway answers 404 -->
	<link rel="icon" href="data:,">
	<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
	<div id="api-reference"></div>
	<script src="docs/swagger-ui-bundle.js"></script>
	<script src="docs/init.js"></script>
</body>
</html>
`;

/** No inline script in the page: this file starts Swagger UI. */
export const DOCS_INIT_JS = `window.addEventListener("load", function () {
	window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#api-reference", deepLinking: true });
});
`;
