/** Sign-in: passwords, sessions (lucia), throttling, accounts. The only module that uses lucia. */
export { createAccount, findAccount } from './accounts';
export { bootstrapAdmin, type BootstrapResult } from './bootstrap';
export { type HashingLimits, hashPassword, preparePasswordHashing, verifyPassword } from './password';
export { SESSION_COOKIE, SessionManager, type SessionUser, type ValidSession } from './sessions';
export {
  clientNetwork,
  loginSubject,
  type Reservation,
  type SignInLimits,
  SignInThrottle,
} from './throttle';
export { newServiceToken, SERVICE_TOKEN_PREFIX, sha256Hex } from './tokens';
export { type Caller, recheckCaller, resolveCaller } from './actor';
