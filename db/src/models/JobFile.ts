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

/** What a job file holds: a CSV upload for an import, or the document an export produced. */
export type JobFileKind = 'import' | 'export';

/**
 * A file of a background job, kept in the database so every server instance sees it and a restart
 * loses none. Its bytes are `JobFileChunk`s, in order of `seq`. `resumePoint` is where its job resumes
 * (an import's last committed line) and `state` what it has done so far (JSON); `expiresAt` is when
 * the sweep deletes the file (null: kept until its job deletes it).
 */
export class JobFile extends Model<InferAttributes<JobFile>, InferCreationAttributes<JobFile>> {
  declare id: CreationOptional<number>;
  declare kind: JobFileKind;
  declare jobId: number | null;
  declare byteSize: CreationOptional<number>;
  declare chunkCount: CreationOptional<number>;
  declare resumePoint: CreationOptional<number>;
  declare state: CreationOptional<object | null>;
  declare expiresAt: Date | null;
  declare createdAt: CreationOptional<Date>;
}

/** Binds a fresh `JobFile` class to one Sequelize instance. */
export function initJobFile(sequelize: Sequelize): typeof JobFile {
  class JobFileModel extends JobFile {}
  JobFileModel.init(
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      kind: { type: DataTypes.STRING(16), allowNull: false },
      jobId: { type: DataTypes.INTEGER, allowNull: true },
      byteSize: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      chunkCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      resumePoint: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      state: jsonText('state', true, largeText(sequelize, 'medium')),
      expiresAt: { type: DataTypes.DATE(3), allowNull: true },
      createdAt: DataTypes.DATE(3),
    },
    { sequelize, modelName: 'JobFile', tableName: 'job_files', underscored: true, updatedAt: false },
  );
  return JobFileModel;
}
