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
export {
  matchTotp,
  newChallengeToken,
  newRecoveryCodes,
  newTotpSecret,
  normalizeRecoveryCode,
  qrSvg,
  RECOVERY_CODE_COUNT,
  recoveryCodeHash,
  TOTP_DIGITS,
  TOTP_DRIFT_STEPS,
  TOTP_PERIOD_SECONDS,
  totpCode,
  totpStep,
  totpUri,
} from './totp';
export { type Caller, recheckCaller, resolveCaller } from './actor';
