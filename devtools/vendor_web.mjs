// Builds the browser files the web app loads from web/vendor/ (run by `npm run vendor`;
// the output is committed, so neither the app nor its users ever run a build step).
// @azure/web-pubsub-client is published for bundlers (ESM/CommonJS with bare imports of
// `events`, `buffer`, `@azure/*`): esbuild bundles its browser entry once into one ES module.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const version = (name) =>
  JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;

const out = join(root, "web", "vendor", "web-pubsub-client");
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  stdin: {
    contents:
      "export { WebPubSubClient, WebPubSubJsonProtocol, WebPubSubJsonReliableProtocol } from \"@azure/web-pubsub-client\";",
    resolveDir: root,
  },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  outfile: join(out, "web-pubsub-client.js"),
  banner: {
    js: `// @azure/web-pubsub-client ${version("@azure/web-pubsub-client")} (MIT), bundled by devtools/vendor_web.mjs with esbuild ${version("esbuild")}`,
  },
  logLevel: "warning",
});
copyFileSync(
  join(root, "node_modules", "@azure", "web-pubsub-client", "LICENSE"),
  join(out, "LICENSE"),
);
writeFileSync(
  join(out, "README.md"),
  [
    "# @azure/web-pubsub-client, browser build",
    "",
    `\`web-pubsub-client.js\` is @azure/web-pubsub-client ${version("@azure/web-pubsub-client")}`,
    "(MIT, LICENSE beside it) and its dependencies bundled into one browser ES module by",
    `esbuild ${version("esbuild")}: \`npm run vendor\` (devtools/vendor_web.mjs). Rebuild it when`,
    "package.json changes the client's version; never edit it by hand.",
    "",
  ].join("\n"),
);
