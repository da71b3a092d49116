import {
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';

/** What a throttle counter counts (see the server's `auth/throttle.ts`). */
export const THROTTLE_KINDS = ['pair', 'account', 'address', 'register'] as const;

/** What a throttle counter counts. */
export type ThrottleKind = (typeof THROTTLE_KINDS)[number];

/**
 * One counter of the sign-in and registration throttle, shared by every server instance on the
 * database. `key` is the SHA-256 hex digest of what is counted (an account, a client address, or
 * both), so names typed at sign-in are never stored; `userId` and `address` say in the clear
 * whose counter it is, for operators and for clearing an account's counters. The row is locked
 * while an attempt is reserved against it.
 */
export class ThrottleCounter extends Model<
  InferAttributes<ThrottleCounter>,
  InferCreationAttributes<ThrottleCounter>
> {
  declare key: string;
  declare kind: ThrottleKind;
  declare userId: number | null;
  declare address: string | null;
  /** Attempts counted in the current window (failures, and attempts still being verified). */
  declare count: number;
  /** For a `pair`: no attempt before this time. */
  declare blockedUntil: Date | null;
  /** When the window ends: from then on the counter starts again from zero. */
  declare expiresAt: Date;
}

/** Binds a fresh `ThrottleCounter` class to one Sequelize instance. */
export function initThrottleCounter(sequelize: Sequelize): typeof ThrottleCounter {
  class ThrottleCounterModel extends ThrottleCounter {}
  ThrottleCounterModel.init(
    {
      key: { type: DataTypes.STRING(64), primaryKey: true },
      kind: { type: DataTypes.STRING(16), allowNull: false },
      userId: { type: DataTypes.INTEGER, allowNull: true },
      address: { type: DataTypes.STRING(64), allowNull: true },
      count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      blockedUntil: { type: DataTypes.DATE(3), allowNull: true },
      expiresAt: { type: DataTypes.DATE(3), allowNull: false },
    },
    {
      sequelize,
      modelName: 'ThrottleCounter',
      tableName: 'throttle_counters',
      underscored: true,
      timestamps: false,
    },
  );
  return ThrottleCounterModel;
}
