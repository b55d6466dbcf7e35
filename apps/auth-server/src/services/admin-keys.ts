import type { AppContext } from '../context.ts';
import type { KeyInfo } from './keys.ts';

/** The signing keys as the admin console shows them, and when the running servers rotate next. */
export interface AdminKeys {
  keys: KeyInfo[];
  /** A next key is published and waits to sign: rotating again now would only confuse verifiers. */
  nextWaiting: boolean;
  /** SIGNING_KEY_ROTATION_DAYS in days; 0 when scheduled rotation is off. */
  rotationDays: number;
  /** When a running server adds the next key (the newest key's creation plus the period); undefined when off. */
  nextScheduled: number | undefined;
}

export async function adminKeys(ctx: AppContext): Promise<AdminKeys> {
  const keys = await ctx.keys.list();
  const periodMs = ctx.config.signingKeyRotationMs;
  const unretired = keys.filter((k) => k.retiredAt === null).map((k) => k.createdAt);
  return {
    keys,
    nextWaiting: keys.some((k) => k.state === 'next'),
    rotationDays: periodMs / 86_400_000,
    // The period runs from the newest key (cli/keys.ts scheduleLine), so a rotation by hand starts it again.
    nextScheduled: periodMs > 0 && unretired.length > 0 ? Math.max(...unretired) + periodMs : undefined,
  };
}
