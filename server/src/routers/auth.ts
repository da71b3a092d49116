import { z } from 'zod';
import {
  createAccount,
  findAccount,
  hashPassword,
  LoginThrottle,
  loginSubject,
  verifyPassword,
} from '../auth/index';
import { badRequest, tooManyRequests, unauthorized } from '../errors';
import { emailSchema, lineText, passwordSchema, usernameSchema } from '../lib/schemas';
import { publicProcedure, userProcedure } from '../procedures/index';
import { router } from '../trpc';
import { recordAudit } from './audit/record';
import { userView } from './users';

/** `auth.register` input. */
export const registerInput = z
  .object({
    username: usernameSchema,
    email: emailSchema,
    password: passwordSchema,
    role: z.enum(['doctor', 'patient'], { message: 'must be doctor or patient' }),
  })
  .strict();

/** `auth.login` input: the username or the email, and the password. */
export const loginInput = z
  .object({
    username: lineText(254),
    password: z.string().min(1, 'is required').max(256),
  })
  .strict();

const changePasswordInput = z
  .object({
    currentPassword: z.string().min(1, 'is required').max(256),
    newPassword: passwordSchema,
  })
  .strict()
  .refine((v) => v.currentPassword !== v.newPassword, {
    message: 'must differ from the current password',
    path: ['newPassword'],
  });

/** Too many failed sign-ins: the same answer for login and a wrong current password. */
function tooMany(minutes: number) {
  return tooManyRequests(
    `Too many failed sign-in attempts; try again in ${minutes} minute${minutes === 1 ? '' : 's'}`,
    minutes * 60,
  );
}

/** Accounts and sessions: register, login, logout, me, changePassword. */
export const authRouter = router({
  register: publicProcedure
    .meta({
      description: 'Create a doctor or patient account. It sees no patient data until an admin links it.',
    })
    .input(registerInput)
    .mutation(async ({ ctx, input }) => {
      const user = await createAccount(ctx.db, input);
      ctx.logger.info({ userId: user.id, role: user.role }, 'account registered');
      return userView(user);
    }),

  login: publicProcedure
    .meta({
      description: 'Sign in with username (or email) and password. Returns a bearer token and sets a cookie.',
    })
    .input(loginInput)
    .mutation(async ({ ctx, input }) => {
      const throttle = new LoginThrottle(ctx.db);
      const user = await findAccount(ctx.db, input.username);
      const subject = loginSubject(user?.id ?? null, input.username);
      const wait = await throttle.blockedFor(subject, ctx.ip);
      if (wait > 0) throw tooMany(wait);
      const valid = await verifyPassword(user?.passwordHash ?? null, input.password);
      if (!user || !valid || user.disabledAt) {
        await throttle.recordFailure(subject, ctx.ip);
        ctx.logger.warn({ userId: user?.id }, 'sign-in failed');
        throw unauthorized('Invalid username or password');
      }
      await throttle.recordSuccess(subject);
      const session = await ctx.sessions.create(user.id);
      ctx.setCookie(ctx.sessions.cookieFor(session.token));
      ctx.logger.info({ userId: user.id }, 'signed in');
      return { token: session.token, expiresAt: session.expiresAt, user: userView(user) };
    }),

  logout: userProcedure.meta({ description: 'End the current session.' }).mutation(async ({ ctx }) => {
    await ctx.sessions.invalidate(ctx.actor.sessionToken);
    ctx.setCookie(ctx.sessions.blankCookie());
    return { ok: true as const };
  }),

  me: userProcedure.meta({ description: 'The signed-in account.' }).query(async ({ ctx }) => {
    const user = await ctx.db.models.User.findByPk(ctx.actor.id);
    if (!user) throw unauthorized();
    return userView(user);
  }),

  changePassword: userProcedure
    .meta({
      description:
        'Change your password (e.g. the generated admin password). Ends every session of the account, this one included, and returns a new token (and cookie) for this caller.',
    })
    .input(changePasswordInput)
    .mutation(async ({ ctx, input }) => {
      const throttle = new LoginThrottle(ctx.db);
      const subject = loginSubject(ctx.actor.id, ctx.actor.username);
      const wait = await throttle.blockedFor(subject, ctx.ip);
      if (wait > 0) throw tooMany(wait);
      const user = await ctx.db.models.User.findByPk(ctx.actor.id);
      if (!user) throw unauthorized();
      if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
        await throttle.recordFailure(subject, ctx.ip);
        throw badRequest('The current password is not correct');
      }
      const passwordHash = await hashPassword(input.newPassword);
      await ctx.db.transaction(async (tx) => {
        await user.update({ passwordHash }, { transaction: tx });
        await recordAudit(ctx, { action: 'update', patientIds: [] }, tx);
      });
      await ctx.sessions.invalidateUser(user.id);
      const session = await ctx.sessions.create(user.id);
      ctx.setCookie(ctx.sessions.cookieFor(session.token));
      ctx.logger.info({ userId: user.id }, 'password changed; all sessions ended');
      return { token: session.token, expiresAt: session.expiresAt, user: userView(user) };
    }),
});
