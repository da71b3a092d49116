import { ROLES } from '@hdms/db';
import { z } from 'zod';
import { listInput } from '../../lib/pagination';
import { emailSchema, idSchema, lineText, passwordSchema, usernameSchema } from '../../lib/schemas';
import { isCommonPassword, PASSWORD_MESSAGES, passwordProblem } from './passwordPolicy';

/**
 * A password being chosen: 8-256 characters and not a common password (see `passwordPolicy.ts`;
 * a password already refused for its length gets no second issue).
 */
export const newPasswordSchema = passwordSchema.refine(
  (v) => v.length < 8 || v.length > 256 || !isCommonPassword(v),
  PASSWORD_MESSAGES.common,
);

/** `auth.register` input; the password may not contain the username or the email's local part either. */
export const registerInput = z
  .object({
    username: usernameSchema,
    email: emailSchema,
    password: newPasswordSchema,
    role: z.enum(['doctor', 'patient'], { message: 'must be doctor or patient' }),
  })
  .strict()
  .superRefine((v, ctx) => {
    // A common password has its issue from `newPasswordSchema` already.
    const problem = passwordProblem(v.password, v);
    if (problem && problem.rule !== 'common')
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['password'], message: problem.message });
  });

/**
 * An account an operator creates (`npm run admin -- create-user`): any role; the password may not
 * contain the username or the email's local part either.
 */
export const createUserInput = z
  .object({
    username: usernameSchema,
    email: emailSchema,
    password: newPasswordSchema,
    role: z.enum(ROLES, { message: `must be one of ${ROLES.join(', ')}` }),
  })
  .strict()
  .superRefine((v, ctx) => {
    const problem = passwordProblem(v.password, v);
    if (problem && problem.rule !== 'common')
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['password'], message: problem.message });
  });

/** `auth.login` input: the username or the email, and the password. */
export const loginInput = z
  .object({
    username: lineText(254),
    password: z.string().min(1, 'is required').max(256),
  })
  .strict();

/**
 * `auth.changePassword` input: the current password and a different new one (the new one may not
 * contain the account's username or email either: checked by `changePassword`, which knows them).
 */
export const changePasswordInput = z
  .object({
    currentPassword: z.string().min(1, 'is required').max(256),
    newPassword: newPasswordSchema,
  })
  .strict()
  .refine((v) => v.currentPassword !== v.newPassword, {
    message: 'must differ from the current password',
    path: ['newPassword'],
  });

/** `users.list` input: the usual page and search (username or email), plus a role filter. */
export const listUsersInput = listInput.extend({ role: z.enum(ROLES).optional() });

/** `users.link` input: a user and exactly one record to link it to. */
export const linkInput = z.union(
  [
    z.object({ userId: idSchema, doctorId: idSchema }).strict(),
    z.object({ userId: idSchema, patientId: idSchema }).strict(),
  ],
  {
    errorMap: (issue, ctx) => ({
      message:
        issue.code === 'invalid_union'
          ? 'needs a userId and exactly one of doctorId or patientId (positive whole numbers)'
          : ctx.defaultError,
    }),
  },
);

/** `users.setDisabled` input. */
export const setDisabledInput = z.object({ userId: idSchema, disabled: z.boolean() }).strict();

/** What `auth.register` works with. */
export type RegisterInput = z.output<typeof registerInput>;
/** What `create-user` works with. */
export type CreateUserInput = z.output<typeof createUserInput>;
/** What `auth.login` works with. */
export type LoginInput = z.output<typeof loginInput>;
/** What `auth.changePassword` works with. */
export type ChangePasswordInput = z.output<typeof changePasswordInput>;
/** What `users.list` works with. */
export type ListUsersInput = z.output<typeof listUsersInput>;
/** What `users.link` works with. */
export type LinkInput = z.output<typeof linkInput>;
/** What `users.setDisabled` works with. */
export type SetDisabledInput = z.output<typeof setDisabledInput>;
