// API tokens: a random secret shown once, kept only as its SHA-256. Shared by the API and `npm run token`.
import { createHash, randomBytes } from 'node:crypto';
import { TOKEN_ROLES, type ApiToken, type Store, type TokenRole } from '../store/types.js';

/** Lowest first: each role may do what the ones before it may. */
export const ROLE_RANK: Record<TokenRole, number> = { viewer: 0, supervisor: 1, admin: 2 };

export const hasRole = (have: TokenRole, need: TokenRole): boolean => ROLE_RANK[have] >= ROLE_RANK[need];

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Creates a token; the returned `token` is the secret, which nobody can see again. */
export async function issueToken(store: Store, input: { name: string; role: TokenRole }, now = Date.now()): Promise<ApiToken & { token: string }> {
  if (!TOKEN_ROLES.includes(input.role)) throw new Error(`role must be one of ${TOKEN_ROLES.join(', ')}, not "${input.role}"`);
  const name = input.name.trim();
  if (!/^[\w.@ -]{1,64}$/.test(name)) throw new Error('name must be 1 to 64 letters, digits, spaces or . _ - @ (it names the actor in the audit trail)');
  // The prefix lets secret scanners and people recognise a takeover token.
  const token = `tko_${randomBytes(32).toString('base64url')}`;
  const record: ApiToken = { id: `tok_${randomBytes(6).toString('hex')}`, name, role: input.role, createdAt: now };
  await store.createToken({ ...record, hash: hashSecret(token) });
  return { ...record, token };
}
