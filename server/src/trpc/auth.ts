import { z } from 'zod';
import {
  clientNetwork,
  createAccount,
  findAccount,
  hashPassword,
  loginSubject,
  type Reservation,
  SignInThrottle,
  verifyPassword,
} from '../auth/index';
import type { Context } from '../context';
import { DomainError, badRequest, unauthorized } from '../domain/errors';
import { emailSchema, lineText, passwordSchema, usernameSchema } from '../lib/schemas';
import { publicProcedure, userProcedure } from './procedures';
import { router } from './init';
import { recordAudit } from '../domain/audit/record';
import { userView } from './users';
import { recordAccountChanged } from '../domain/events/record';

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

/** The sign-in and registration throttle of the request's database, with the server's limits. */
function throttleOf(ctx: Pick<Context, 'db' | 'config' | 'logger'>): SignInThrottle {
  return new SignInThrottle(ctx.db, ctx.config.signInLimits, ctx.logger);
}

/** Checks a password for a reserved attempt; a check that never ran gives the reservation back. */
async function verifyReserved(reservation: Reservation, storedHash: string | null, password: string) {
  try {
    return await verifyPassword(storedHash, password);
  } catch (error) {
    await reservation.cancel();
    throw error;
  }
}

/** Accounts and sessions: register, login, logout, me, changePassword. */
export const authRouter = router({
  register: publicProcedure
    .meta({
      description: 'Create a doctor or patient account. It sees no patient data until an admin links it.',
    })
    .input(registerInput)
    .mutation(async ({ ctx, input }) => {
      const reservation = await throttleOf(ctx).reserveRegistration(ctx.ip);
      const user = await createAccount(ctx.db, input).catch(async (error: unknown) => {
        // Too busy to hash the password: the registration was not made and does not count.
        if (error instanceof DomainError) await reservation?.cancel();
        throw error;
      });
      ctx.logger.info({ userId: user.id, role: user.role }, 'account registered');
      return userView(user);
    }),

  login: publicProcedure
    .meta({
      description: 'Sign in with username (or email) and password. Returns a bearer token and sets a cookie.',
    })
    .input(loginInput)
    .mutation(({ ctx, input }) => {
      const throttle = throttleOf(ctx);
      const name = input.username.trim().toLowerCase();
      return throttle.oneAtATime(`login\n${clientNetwork(ctx.ip) ?? '-'}\n${name}`, async () => {
        const user = await findAccount(ctx.db, input.username);
        const reservation = await throttle.reserveSignIn({
          subject: loginSubject(user?.id ?? null, input.username),
          userId: user?.id ?? null,
          ip: ctx.ip,
        });
        const valid = await verifyReserved(reservation, user?.passwordHash ?? null, input.password);
        if (!user || !valid || user.disabledAt) {
          await reservation.failed();
          ctx.logger.warn({ userId: user?.id }, 'sign-in failed');
          throw unauthorized('Invalid username or password');
        }
        await reservation.succeeded();
        const session = await ctx.sessions.create(user.id);
        ctx.setCookie(ctx.sessions.cookieFor(session.token));
        ctx.logger.info({ userId: user.id }, 'signed in');
        return { token: session.token, expiresAt: session.expiresAt, user: userView(user) };
      });
    }),

  logout: userProcedure.meta({ description: 'End the current session.' }).mutation(async ({ ctx }) => {
    await ctx.sessions.invalidate(ctx.actor.sessionToken);
    await recordAccountChanged(ctx.db, ctx.actor.id);
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
    .mutation(({ ctx, input }) => {
      const throttle = throttleOf(ctx);
      const { actor } = ctx;
      return throttle.oneAtATime(`password\n${clientNetwork(ctx.ip) ?? '-'}\n${actor.id}`, async () => {
        const reservation = await throttle.reserveSignIn({
          subject: loginSubject(actor.id, actor.username),
          userId: actor.id,
          ip: ctx.ip,
        });
        const user = await ctx.db.models.User.findByPk(actor.id);
        if (!user) {
          await reservation.cancel();
          throw unauthorized();
        }
        if (!(await verifyReserved(reservation, user.passwordHash, input.currentPassword))) {
          await reservation.failed();
          throw badRequest('The current password is not correct');
        }
        await reservation.succeeded();
        const passwordHash = await hashPassword(input.newPassword);
        await ctx.db.transaction(async (tx) => {
          await user.update({ passwordHash }, { transaction: tx });
          await recordAudit(ctx, { action: 'update', patientIds: [] }, tx);
        });
        await ctx.sessions.invalidateUser(user.id);
        await recordAccountChanged(ctx.db, user.id);
        const session = await ctx.sessions.create(user.id);
        ctx.setCookie(ctx.sessions.cookieFor(session.token));
        ctx.logger.info({ userId: user.id }, 'password changed; all sessions ended');
        return { token: session.token, expiresAt: session.expiresAt, user: userView(user) };
      });
    }),
});
