import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AuthUser, Role } from '@saga/platform/auth/jwt';
import { createPasswordHasher, type PasswordHasher } from '@saga/platform/auth/passwords';
import type { Collection, Document, DocumentStore } from '@saga/platform/document-store/port';
import { ConflictError } from '@saga/platform/errors';
import { deterministicId } from '@saga/platform/ids';
import { isCommonPassword, isEmailLike, MIN_PASSWORD_LENGTH } from './password-policy';

export { loadPasswordPolicy } from './password-policy';

/** Emails compare case-insensitively: stored and looked up trimmed and lower-cased. */
export const UserEmail = z
  .email()
  .max(254)
  .transform((e) => e.trim().toLowerCase());

/**
 * At least 8 characters and not a common one; the upper bound only keeps scrypt's input sane.
 * Parse it after `await loadPasswordPolicy()`.
 */
export const Password = z
  .string()
  .min(MIN_PASSWORD_LENGTH, { error: `password must be at least ${MIN_PASSWORD_LENGTH} characters` })
  .max(200)
  .refine((p) => !isCommonPassword(p), { error: 'this password is one of the most common ones; choose another', abort: true });

export const RegisterRequest = z
  .strictObject({
    email: UserEmail,
    password: Password,
    name: z.string().trim().min(1).max(100),
  })
  .refine((r) => !isEmailLike(r.password, r.email), { error: 'password must not be your email address', path: ['password'] });
export type RegisterRequest = z.input<typeof RegisterRequest>;

/** Login does not apply the password policy: a wrong password is a 401, never a hint about the rules. */
export const LoginRequest = z.strictObject({
  email: z.string().min(1).max(254),
  password: z.string().min(1).max(200),
});

interface UserDoc extends Document {
  id: string;
  email: string;
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: string;
}

export interface NewUser {
  email: string;
  password: string;
  name: string;
  role?: Role;
}

export interface UserStore {
  /** Creates a user; ConflictError (409) when the email is taken. */
  register(user: NewUser): Promise<AuthUser>;
  /** The user when the password matches, else null (same work either way). */
  authenticate(email: string, password: string): Promise<AuthUser | null>;
  findByEmail(email: string): Promise<AuthUser | null>;
}

export const USERS_COLLECTION = { name: 'users', indexes: ['email'] };

const normalise = (email: string) => email.trim().toLowerCase();
/**
 * The id is derived from the normalised email, so even two processes racing to register
 * the same address write one document instead of two users sharing an email.
 */
const userIdOf = (email: string) => deterministicId('user', normalise(email));
const toAuthUser = (d: UserDoc): AuthUser => ({ id: d.id, email: d.email, role: d.role, name: d.name });

export async function createUserStore(
  docs: DocumentStore,
  clock: () => Date = () => new Date(),
  /** Bounds how many scrypt hashes run and wait at once (see passwords.ts). */
  hasher: PasswordHasher = createPasswordHasher(),
): Promise<UserStore> {
  const users: Collection<UserDoc> = await docs.collection<UserDoc>(USERS_COLLECTION);
  // Login with an unknown email still runs scrypt, against this, so timing does not reveal which emails exist.
  const dummyHash = hasher.hash(randomUUID());
  const findDoc = async (email: string) => users.get(userIdOf(email));

  return {
    async register(user) {
      const email = normalise(user.email);
      // A cheap early answer for the common case; the insert below is what decides a race.
      if (await findDoc(email)) throw new ConflictError('an account with this email already exists');
      const doc: UserDoc = {
        id: userIdOf(email),
        email,
        name: user.name,
        role: user.role ?? 'customer',
        passwordHash: await hasher.hash(user.password),
        createdAt: clock().toISOString(),
      };
      // Insert-if-absent: of two registrations racing on two gateways, one inserts and the other
      // gets ConflictError (409); nobody's password hash is ever replaced.
      try {
        await users.insert(doc);
      } catch (error) {
        if (error instanceof ConflictError) throw new ConflictError('an account with this email already exists');
        throw error;
      }
      return toAuthUser(doc);
    },
    async authenticate(email, password) {
      const doc = await findDoc(email);
      const ok = await hasher.verify(password, doc ? doc.passwordHash : await dummyHash, normalise(email));
      return doc && ok ? toAuthUser(doc) : null;
    },
    async findByEmail(email) {
      const doc = await findDoc(email);
      return doc ? toAuthUser(doc) : null;
    },
  };
}
