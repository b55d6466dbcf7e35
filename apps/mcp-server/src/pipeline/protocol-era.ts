import { classifyInboundRequest, PROTOCOL_VERSION_META_KEY, ProtocolErrorCode, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCRequest } from '@modelcontextprotocol/server';

/**
 * Which protocol revision a message speaks. `legacy` is the 2025 family (initialize handshake);
 * `modern` is 2026-07-28 and later, where every request carries its own `_meta` envelope.
 */
export type ProtocolEra = 'legacy' | 'modern';

/** The per-request revisions this server serves (2026-07-28 basic/versioning). */
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = ['2026-07-28'];

/** The HTTP request headers 2026-07-28 checks against the body; stdio has none. */
export interface McpHeaders {
  protocolVersion?: string | undefined;
  method?: string | undefined;
  name?: string | undefined;
  accept?: string | undefined;
  contentType?: string | undefined;
}

/** A refusal before any server instance sees the message: the HTTP status, the JSON-RPC error, and the audit reason. */
export interface EraRejection {
  status: number;
  code: number;
  message: string;
  data?: unknown;
  reason: string;
}

// 2026-07-28 Streamable HTTP, standard request headers: a value that is not plain ASCII is sent as
// =?base64?<canonical base64 of its UTF-8>?=.
const BASE64_SENTINEL = /^=\?base64\?((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)\?=$/;
const decodeHeaderValue = (value: string): string | undefined => {
  if (!value.startsWith('=?base64?')) return value;
  const b64 = BASE64_SENTINEL.exec(value)?.[1];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
};

/** The requests whose Mcp-Name header repeats a body field (2026-07-28 Streamable HTTP, standard request headers). */
const MCP_NAME_SOURCE: Readonly<Record<string, 'name' | 'uri'>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/** HeaderMismatch (2026-07-28 Streamable HTTP). */
const HEADER_MISMATCH = -32020;

const mismatch = (header: string, detail: string): EraRejection => ({
  status: 400,
  code: HEADER_MISMATCH,
  message: `Bad Request: the request headers and body disagree: ${detail}`,
  data: { mismatch: { header, body: detail } },
  reason: `protocol: header mismatch (${header})`,
});

/**
 * The revision of one HTTP message, or why it is refused, decided before the gate's other steps
 * so that a request the SDK would refuse is audited as DENIED, never ALLOWED. The SDK's own
 * classifier checks the envelope (missing or malformed `_meta`: -32602); on top of it, for a
 * modern request: the envelope names a revision we serve (else -32022 listing them), and
 * MCP-Protocol-Version, Mcp-Method and (tools/call, prompts/get, resources/read) Mcp-Name repeat what the body says (else
 * -32020, HeaderMismatch). The SDK repeats these checks; this gate answers in the same shape.
 */
export function classifyHttpMessage(body: JSONRPCRequest | { method: string; params?: unknown }, headers: McpHeaders): { era: ProtocolEra } | EraRejection {
  const outcome = classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: headers.protocolVersion,
    mcpMethodHeader: headers.method,
    mcpNameHeader: headers.name,
    body,
  });
  if (outcome.kind === 'reject') {
    const reason = outcome.code === HEADER_MISMATCH ? `protocol: header mismatch (${outcome.cell})` : `protocol: ${outcome.cell}`;
    return { status: outcome.httpStatus, code: outcome.code, message: outcome.message, data: outcome.data, reason };
  }
  if (outcome.kind === 'legacy') {
    // 2025-11-25 Streamable HTTP: a POST must accept both answer forms, even though this server
    // answers in JSON.
    const accept = headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return {
        status: 406,
        code: -32000,
        message: 'Not Acceptable: Client must accept both application/json and text/event-stream',
        reason: 'protocol: Accept must name application/json and text/event-stream',
      };
    }
    // 2025-11-25 transports: after initialize, an MCP-Protocol-Version the server does not
    // support is a 400. Answered here so the error carries the request id (the SDK's has none).
    const v = headers.protocolVersion;
    if ('id' in body && body.method !== 'initialize' && v !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(v)) {
      return {
        status: 400,
        code: -32000,
        message: `Bad Request: Unsupported protocol version: ${v.slice(0, 64)} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
        reason: 'protocol: unsupported MCP-Protocol-Version header',
      };
    }
    return { era: 'legacy' };
  }
  if (outcome.messageKind !== 'request') return { era: 'modern' };
  const requested = outcome.classification.revision ?? readClaim(body);
  if (requested === undefined || !MODERN_PROTOCOL_VERSIONS.includes(requested)) return unsupported(requested);
  if (headers.protocolVersion !== requested) return mismatch('MCP-Protocol-Version', `the body envelope names protocol version ${requested}`);
  if (headers.method !== body.method) return mismatch('Mcp-Method', `the body names method ${body.method.slice(0, 64)}`);
  const field = Object.hasOwn(MCP_NAME_SOURCE, body.method) ? MCP_NAME_SOURCE[body.method] : undefined;
  if (field) {
    const name = (body.params as Record<string, unknown> | undefined)?.[field];
    if (typeof name === 'string' && (headers.name === undefined || decodeHeaderValue(headers.name.trim()) !== name)) {
      return mismatch('Mcp-Name', `the body carries params.${field}="${name.slice(0, 64)}"`);
    }
  }
  return { era: 'modern' };
}

const unsupported = (requested: string | undefined): EraRejection => ({
  status: 400,
  code: ProtocolErrorCode.UnsupportedProtocolVersion,
  message: `Unsupported protocol version: ${String(requested).slice(0, 64)}`,
  data: { supported: [...MODERN_PROTOCOL_VERSIONS], requested: requested?.slice(0, 64) },
  reason: 'protocol: unsupported protocol version',
});

/**
 * stdio has no headers: the SDK pins the connection's revision on its first message and checks
 * each envelope, but a pinned 2026-07-28 connection serves a request whose envelope names another
 * revision. Refused here as HTTP refuses it (-32022 listing the revisions served). A message with
 * no envelope claim is left to the SDK (2025, or -32602 on a 2026-07-28 connection).
 */
export function classifyStdioMessage(body: { id?: unknown; method: string; params?: unknown }): { era?: ProtocolEra } | EraRejection {
  const requested = readClaim(body);
  if (requested === undefined || body.method === 'initialize') return {};
  if (!MODERN_PROTOCOL_VERSIONS.includes(requested)) return 'id' in body ? unsupported(requested) : {};
  return { era: 'modern' };
}

function readClaim(body: { params?: unknown }): string | undefined {
  const meta = (body.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  const v = meta?.[PROTOCOL_VERSION_META_KEY];
  return typeof v === 'string' ? v : undefined;
}
