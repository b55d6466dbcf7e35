// Container health check: exits 0 when the app in this container answers 200 on /ready.
//   node docker/healthcheck.mjs [URL]
// Without a URL it asks both apps' ports on loopback (only one app runs per container) and passes
// if either is ready. Plain JavaScript so it starts fast and needs no loader.
import http from 'node:http';
import https from 'node:https';

const TIMEOUT_MS = 3000;
const env = process.env;

const urls = process.argv[2]
  ? [process.argv[2]]
  : [
      `http://127.0.0.1:${env.AUTH_PORT || 4000}/ready`,
      // The MCP server serves https when it has a certificate (MCP_TLS_CERT), mtls mode included.
      `${env.MCP_TLS_CERT ? 'https' : 'http'}://127.0.0.1:${env.MCP_PORT || 4001}/ready`,
    ];

function ready(url) {
  return new Promise((resolve) => {
    const lib = url.startsWith('https:') ? https : http;
    // Loopback to our own process: certificate checks would only test the certificate's names.
    const req = lib.get(url, { timeout: TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const results = await Promise.all(urls.map(ready));
process.exit(results.some(Boolean) ? 0 : 1);
