// @modelcontextprotocol/server-everything in its Streamable HTTP mode, as the gateway scenarios'
// upstream and floor. It listens on PORT on every interface by itself: bound here to 127.0.0.1.
// It also prints a line per request with console.log; every stack in the benchmark runs without
// per-request log lines, so console.log is silenced (its start-up line goes to console.error).
import net from 'node:net';

const port = Number(process.env.PORT);
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const callback = args.find((a) => typeof a === 'function');
  return listen.call(this, { port, host: '127.0.0.1' }, callback);
};
console.log = () => {};
process.argv[2] = 'streamableHttp';
await import('@modelcontextprotocol/server-everything/dist/index.js');
