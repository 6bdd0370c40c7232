// The demo page server: serves www/ as static files and, when given a running emulator, answers
// `GET /emulator.json` with where it is and which credentials it accepts, so the page can run a
// real first login against it. Local use only: it listens on 127.0.0.1.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname } from "node:path";
import { gzipSync } from "node:zlib";

const WWW = new URL("../www/", import.meta.url);

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ts": "text/plain; charset=utf-8",
};

/**
 * Start the demo page server.
 * @param {{ emulator?: { url: string, slackWebhookUrl: string, clientId?: string, clientSecret?: string } | null,
 *           port?: number, host?: string }} [options]
 * @returns {Promise<{ url: string, port: number, stop(): Promise<void> }>}
 */
export async function startDemoServer({ emulator = null, port = 0, host = "127.0.0.1" } = {}) {
  // The page may call the emulator (another port) and nothing else.
  const connect = ["'self'", emulator ? new URL(emulator.url).origin : null].filter(Boolean).join(" ");
  const csp = [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  const common = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" };
  const gzipped = new Map(); // path → { mtimeMs, body }: the wasm is ~330 kB raw, ~130 kB gzipped

  const server = createServer(async (req, res) => {
    // Still percent-encoded: resolving it against www/ normalises `..` (also `%2e%2e`), and
    // reading a file URL refuses encoded slashes, so nothing outside www/ can be named.
    const path = new URL(req.url, "http://x").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return res.writeHead(405, { ...common, allow: "GET, HEAD" }).end();
    }
    if (path === "/emulator.json") {
      if (!emulator) return res.writeHead(404, common).end("no emulator");
      res.writeHead(200, { ...common, "content-type": TYPES[".json"], "cache-control": "no-store" });
      return res.end(
        JSON.stringify({
          url: emulator.url,
          slackWebhookUrl: emulator.slackWebhookUrl,
          clientId: emulator.clientId ?? "emu-client-id",
          clientSecret: emulator.clientSecret ?? "emu-client-secret",
        }),
      );
    }
    const file = new URL("." + (path.endsWith("/") ? path + "index.html" : path), WWW);
    if (!file.pathname.startsWith(WWW.pathname)) return res.writeHead(403, common).end("forbidden");
    try {
      const { mtimeMs } = await stat(file);
      let body = await readFile(file);
      const type = TYPES[extname(file.pathname)] ?? "application/octet-stream";
      const headers = { ...common, "content-type": type, "cache-control": "no-cache", vary: "accept-encoding" };
      if (type.startsWith("text/html")) headers["content-security-policy"] = csp;
      if (body.length > 1024 && !type.startsWith("image/png") && /\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) {
        let hit = gzipped.get(file.pathname);
        if (!hit || hit.mtimeMs !== mtimeMs) gzipped.set(file.pathname, (hit = { mtimeMs, body: gzipSync(body) }));
        body = hit.body;
        headers["content-encoding"] = "gzip";
      }
      headers["content-length"] = body.length;
      res.writeHead(200, headers);
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { ...common, "content-type": "text/plain; charset=utf-8" }).end("not found");
    }
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;
  return {
    url: `http://${host}:${actual}/`,
    port: actual,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
