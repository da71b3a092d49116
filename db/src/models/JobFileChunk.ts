import {
  DataTypes,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  Model,
  type Sequelize,
} from 'sequelize';
import type { JobFile } from './JobFile';

/** One part of a job file's bytes (at most 512 KiB), in order of `seq` from 0. */
export class JobFileChunk extends Model<
  InferAttributes<JobFileChunk>,
  InferCreationAttributes<JobFileChunk>
> {
  declare fileId: ForeignKey<JobFile['id']>;
  declare seq: number;
  declare data: Buffer;
}

/** Binds a fresh `JobFileChunk` class to one Sequelize instance. */
export function initJobFileChunk(sequelize: Sequelize): typeof JobFileChunk {
  class JobFileChunkModel extends JobFileChunk {}
  JobFileChunkModel.init(
    {
      fileId: { type: DataTypes.INTEGER, allowNull: false, primaryKey: true },
      seq: { type: DataTypes.INTEGER, allowNull: false, primaryKey: true },
      data: { type: DataTypes.BLOB('medium'), allowNull: false },
    },
    {
      sequelize,
      modelName: 'JobFileChunk',
      tableName: 'job_file_chunks',
      underscored: true,
      timestamps: false,
    },
  );
  return JobFileChunkModel;
}
