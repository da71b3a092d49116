import { confirm, disable, enroll, loginMfa } from '../domain/mfa/commands';
import { confirmInput, disableInput, enrollInput, loginMfaInput } from '../domain/mfa/schemas';
import { changePassword, login, logout, me, register } from '../domain/users/account';
import { changePasswordInput, loginInput, registerInput } from '../domain/users/schemas';
import { router } from './init';
import { publicProcedure, userProcedure } from './procedures';

/** The caller's second sign-in factor (TOTP): enroll an authenticator app, confirm it, turn it off. */
const mfaRouter = router({
  enroll: userProcedure
    .meta({
      mfaEnrollment: true,
      description:
        'Start MFA: give your current password (checked like a sign-in) and get a new TOTP secret, its otpauth:// URI and a QR code (SVG) for an authenticator app. Nothing changes until auth.mfa.confirm. Refused while MFA is on.',
    })
    .input(enrollInput)
    .mutation(({ ctx, input }) => enroll(ctx, input)),

  confirm: userProcedure
    .meta({
      mfaEnrollment: true,
      description:
        "Turn MFA on with the app's current 6-digit code. Answers ten single-use recovery codes, shown this once: store them. Ends the account's other sessions.",
    })
    .input(confirmInput)
    .mutation(({ ctx, input }) => confirm(ctx, input)),

  disable: userProcedure
    .meta({
      mfaEnrollment: true,
      description:
        "Turn MFA off with a current code or an unused recovery code. Ends the account's other sessions.",
    })
    .input(disableInput)
    .mutation(({ ctx, input }) => disable(ctx, input)),
});

/** Accounts and sessions: register, login (+ loginMfa), logout, me, changePassword, mfa. */
export const authRouter = router({
  register: publicProcedure
    .meta({
      description:
        'Create a doctor or patient account. It sees no patient data until an admin links it. The password may not be a common one, nor contain the username or the email before the @.',
    })
    .input(registerInput)
    .mutation(({ ctx, input }) => register(ctx, input)),

  login: publicProcedure
    .meta({
      description:
        'Sign in with username (or email) and password. Returns a bearer token and sets a cookie; for an account with MFA, returns { mfaRequired: true, challenge } for auth.loginMfa instead.',
    })
    .input(loginInput)
    .mutation(({ ctx, input }) => login(ctx, input)),

  loginMfa: publicProcedure
    .meta({
      description:
        'Second step of signing in to an account with MFA: the challenge auth.login answered (single-use, 5 minutes) and a current 6-digit code or a recovery code. Answers as auth.login does.',
    })
    .input(loginMfaInput)
    .mutation(({ ctx, input }) => loginMfa(ctx, input)),

  logout: userProcedure
    .meta({ mfaEnrollment: true, description: 'End the current session.' })
    .mutation(({ ctx }) => logout(ctx)),

  me: userProcedure
    .meta({
      mfaEnrollment: true,
      description:
        'The signed-in account, with whether MFA is on (mfaEnabled) and required for its role (mfaRequired).',
    })
    .query(({ ctx }) => me(ctx)),

  changePassword: userProcedure
    .meta({
      description:
        'Change your password (e.g. the generated admin password). Ends every session of the account, this one included, and returns a new token (and cookie) for this caller.',
    })
    .input(changePasswordInput)
    .mutation(({ ctx, input }) => changePassword(ctx, input)),

  mfa: mfaRouter,
});
