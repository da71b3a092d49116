import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import { largeText } from './text';
import { jsonText } from './json';

/**
 * Where a job is in its life: waiting (maybe for a retry), claimed by a worker, or finished
 * (succeeded, failed for good, or cancelled by its creator or an admin).
 */
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * One background job (see `server/src/jobs/`). A job is inserted in the transaction of the change
 * that causes it; a dispatcher claims it by setting `leaseOwner` and `leaseExpiresAt`, and only
 * the holder of the lease may finish it. `serialKey` (e.g. `patient:42`) orders jobs: one is
 * claimed only when no earlier job with its key is queued or running. `uniqueKey` allows at most
 * one unfinished job per key (it is cleared when the job finishes). The payload is cleared when
 * the job finishes: it may hold clinical values and is no longer needed.
 */
export class Job extends Model<InferAttributes<Job>, InferCreationAttributes<Job>> {
  declare id: CreationOptional<number>;
  declare type: string;
  declare payload: unknown;
  declare status: JobStatus;
  declare attempts: CreationOptional<number>;
  /** Runs cut by a crash (lease expired): not counted as attempts, but limited. */
  declare interruptions: CreationOptional<number>;
  declare maxAttempts: number;
  declare runAfter: Date;
  declare leaseOwner: CreationOptional<string | null>;
  declare leaseExpiresAt: CreationOptional<Date | null>;
  declare serialKey: CreationOptional<string | null>;
  declare uniqueKey: CreationOptional<string | null>;
  declare patientId: CreationOptional<number | null>;
  declare progressDone: CreationOptional<number | null>;
  declare progressTotal: CreationOptional<number | null>;
  declare result: CreationOptional<unknown>;
  declare error: CreationOptional<string | null>;
  declare createdByType: string;
  declare createdById: number;
  declare createdByName: string;
  declare requestId: string;
  declare requestIp: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
  declare startedAt: CreationOptional<Date | null>;
  declare finishedAt: CreationOptional<Date | null>;
}

/** Binds a fresh `Job` class to one Sequelize instance. */
export function initJob(sequelize: Sequelize): typeof Job {
  class JobModel extends Job {}
  JobModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      type: { type: DataTypes.STRING(64), allowNull: false },
      payload: jsonText('payload', true, largeText(sequelize, 'long')),
      status: { type: DataTypes.STRING(16), allowNull: false },
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      interruptions: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      maxAttempts: { type: DataTypes.INTEGER, allowNull: false },
      runAfter: { type: DataTypes.DATE(3), allowNull: false },
      leaseOwner: { type: DataTypes.STRING(64), allowNull: true },
      leaseExpiresAt: { type: DataTypes.DATE(3), allowNull: true },
      serialKey: { type: DataTypes.STRING(64), allowNull: true },
      uniqueKey: { type: DataTypes.STRING(64), allowNull: true },
      patientId: { type: DataTypes.INTEGER, allowNull: true },
      progressDone: { type: DataTypes.INTEGER, allowNull: true },
      progressTotal: { type: DataTypes.INTEGER, allowNull: true },
      result: jsonText('result', true, largeText(sequelize, 'long')),
      error: { type: DataTypes.STRING(1000), allowNull: true },
      createdByType: { type: DataTypes.STRING(16), allowNull: false },
      createdById: { type: DataTypes.INTEGER, allowNull: false },
      createdByName: { type: DataTypes.STRING(120), allowNull: false },
      requestId: { type: DataTypes.STRING(64), allowNull: false },
      requestIp: { type: DataTypes.STRING(64), allowNull: true },
      createdAt: DataTypes.DATE(3),
      updatedAt: DataTypes.DATE(3),
      startedAt: { type: DataTypes.DATE(3), allowNull: true },
      finishedAt: { type: DataTypes.DATE(3), allowNull: true },
    },
    { sequelize, modelName: 'Job', tableName: 'jobs', underscored: true },
  );
  return JobModel;
}
