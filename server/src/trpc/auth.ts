import { changePassword, login, logout, me, register } from '../domain/users/account';
import { changePasswordInput, loginInput, registerInput } from '../domain/users/schemas';
import { router } from './init';
import { publicProcedure, userProcedure } from './procedures';

/** Accounts and sessions: register, login, logout, me, changePassword. */
export const authRouter = router({
  register: publicProcedure
    .meta({
      description: 'Create a doctor or patient account. It sees no patient data until an admin links it.',
    })
    .input(registerInput)
    .mutation(({ ctx, input }) => register(ctx, input)),

  login: publicProcedure
    .meta({
      description: 'Sign in with username (or email) and password. Returns a bearer token and sets a cookie.',
    })
    .input(loginInput)
    .mutation(({ ctx, input }) => login(ctx, input)),

  logout: userProcedure.meta({ description: 'End the current session.' }).mutation(({ ctx }) => logout(ctx)),

  me: userProcedure.meta({ description: 'The signed-in account.' }).query(({ ctx }) => me(ctx)),

  changePassword: userProcedure
    .meta({
      description:
        'Change your password (e.g. the generated admin password). Ends every session of the account, this one included, and returns a new token (and cookie) for this caller.',
    })
    .input(changePasswordInput)
    .mutation(({ ctx, input }) => changePassword(ctx, input)),
});
