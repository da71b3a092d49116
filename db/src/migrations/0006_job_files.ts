import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Files of background jobs, kept in the database so that every server instance sees them and a
 * restart loses none: a CSV upload until its import job has run, an export until it expires.
 * `job_files` holds one row per file; `job_file_chunks` its bytes in parts of at most 512 KiB
 * (MEDIUMBLOB on MySQL: far below its 16 MiB column limit and MariaDB's default 16 MiB
 * `max_allowed_packet`). `resume_point` is where a job resumes (an import's last committed line)
 * and `state` what it has done so far (JSON); `expires_at` is when a sweep deletes the file (an
 * upload no job took, an export past its retention). `job_id` has no foreign key, like the audit
 * trail's patient ids: a file is deleted by its job type or by the sweep, never by a cascade.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  // SQLite's TEXT has no size (and Sequelize warns about one).
  const mediumText = qi.sequelize.getDialect() === 'mysql' ? DataTypes.TEXT('medium') : DataTypes.TEXT;
  await qi.createTable('job_files', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    job_id: { type: DataTypes.INTEGER, allowNull: true },
    byte_size: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    chunk_count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    resume_point: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    state: { type: mediumText, allowNull: true },
    expires_at: { type: DataTypes.DATE(3), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  await qi.addIndex('job_files', ['job_id'], { name: 'job_files_job_id' });
  await qi.addIndex('job_files', ['expires_at'], { name: 'job_files_expires_at' });

  await qi.createTable('job_file_chunks', {
    file_id: {
      type: DataTypes.INTEGER,
      allowNull: false,
      primaryKey: true,
      references: { model: 'job_files', key: 'id' },
      onUpdate: 'CASCADE',
      onDelete: 'CASCADE',
    },
    seq: { type: DataTypes.INTEGER, allowNull: false, primaryKey: true },
    data: { type: DataTypes.BLOB('medium'), allowNull: false },
  });
}

/** Drops the job files. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('job_file_chunks');
  await qi.dropTable('job_files');
}
