// .env.example is the settings reference: every variable in it must be read by a config schema,
// and every setting a schema reads must be in it, so the documentation cannot drift from the code.
import { describe, expect, it } from 'vitest';
import { authSettingNames } from '../../apps/auth-server/src/config.ts';
import { mcpSettingNames } from '../../apps/mcp-server/src/config.ts';
import { parseEnvFile, read } from './deploy-files.ts';

const documented = parseEnvFile(read('.env.example')).map(([k]) => k);
const read_ = new Set([...authSettingNames, ...mcpSettingNames]);

describe('.env.example', () => {
  it('[DEPLOY-ENV-DOCS] every variable it lists is read by the auth-server or MCP-server config', () => {
    expect(documented.filter((k) => !read_.has(k))).toEqual([]);
  });

  it('[DEPLOY-ENV-DOCS] every setting either config reads is listed, and one listed twice (read by both apps) has one value', () => {
    expect([...read_].filter((k) => !documented.includes(k))).toEqual([]);
    const values = new Map<string, string>();
    for (const [k, v] of parseEnvFile(read('.env.example'))) {
      if (values.has(k)) expect(v, `${k} is listed twice with different values`).toBe(values.get(k));
      values.set(k, v);
    }
  });

  it('[DEPLOY-ENV-DOCS] holds no secret value', () => {
    for (const [k, v] of parseEnvFile(read('.env.example'))) {
      if (/KEY_ENCRYPTION_KEY|PASSWORD|SECRET|API_KEY/.test(k)) expect(v, k).toBe('');
    }
  });
});
