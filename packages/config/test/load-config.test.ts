import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, key256, loadConfig, port } from '../src/index.ts';

const schema = z.object({ PORT: port.default(4000), NAME: z.string().min(1).default('x'), KEY: key256.optional() });

describe('loadConfig', () => {
  it('reports every problem at once, naming each setting', () => {
    try {
      loadConfig(schema, { PORT: 'abc', KEY: 'c2hvcnQ=' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.map((p) => p.split(':')[0])).toEqual(['PORT', 'KEY']);
      expect((err as ConfigError).message).toMatch(/openssl rand -base64 32/);
    }
  });

  it('treats empty values (FOO= in a copied .env.example) as unset, so defaults apply', () => {
    expect(loadConfig(schema, { PORT: '', NAME: '' })).toMatchObject({ PORT: 4000, NAME: 'x' });
  });

  it('returns a deeply frozen result (a key Buffer stays usable)', () => {
    const c = loadConfig(z.object({ a: z.object({ b: z.number() }), KEY: key256 }), { a: { b: 1 }, KEY: Buffer.alloc(32, 1).toString('base64') });
    expect(Object.isFrozen(c.a)).toBe(true);
    expect(() => { c.a.b = 2; }).toThrow(TypeError);
    expect(c.KEY.length).toBe(32);
  });
});
