import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  createAccount,
  findAccount,
  hashPassword,
  LoginThrottle,
  loginSubject,
  verifyPassword,
} from '../auth/index';
import { recordAudit } from '../audit';
import { publicProcedure, userProcedure } from '../procedures/index';
import { router } from '../trpc';
import { emailSchema, passwordSchema, usernameSchema } from '../validation';
import { userView } from '../views';

const registerInput = z
  .object({
    username: usernameSchema,
    email: emailSchema,
    password: passwordSchema,
    role: z.enum(['doctor', 'patient'], { message: 'must be doctor or patient' }),
  })
  .strict();

const loginInput = z
  .object({
    username: z.string().trim().min(1, 'is required').max(254),
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

/** Too many wrong current passwords: the same answer and window as failed sign-ins. */
function tooMany(wait: number): TRPCError {
  return new TRPCError({
    code: 'TOO_MANY_REQUESTS',
    message: `Too many failed sign-in attempts; try again in ${wait} minute${wait === 1 ? '' : 's'}`,
  });
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
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Invalid username or password' });
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
    if (!user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
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
      if (!user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
      if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
        await throttle.recordFailure(subject, ctx.ip);
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'The current password is not correct' });
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
