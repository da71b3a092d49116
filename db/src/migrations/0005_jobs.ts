import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * The durable job queue (`jobs`): background work accepted in the same transaction as its cause,
 * claimed by the dispatchers of every server instance under a lease, and kept with its outcome.
 * Payloads and results are JSON text (LONGTEXT on MySQL: an import's payload or an export's
 * result may exceed 64 KB).
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  // SQLite's TEXT has no size (and Sequelize warns about one).
  const longText = qi.sequelize.getDialect() === 'mysql' ? DataTypes.TEXT('long') : DataTypes.TEXT;
  await qi.createTable('jobs', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false },
    type: { type: DataTypes.STRING(64), allowNull: false },
    payload: { type: longText, allowNull: true },
    status: { type: DataTypes.STRING(16), allowNull: false },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    max_attempts: { type: DataTypes.INTEGER, allowNull: false },
    run_after: { type: DataTypes.DATE(3), allowNull: false },
    lease_owner: { type: DataTypes.STRING(64), allowNull: true },
    lease_expires_at: { type: DataTypes.DATE(3), allowNull: true },
    serial_key: { type: DataTypes.STRING(64), allowNull: true },
    unique_key: { type: DataTypes.STRING(64), allowNull: true },
    patient_id: { type: DataTypes.INTEGER, allowNull: true },
    progress_done: { type: DataTypes.INTEGER, allowNull: true },
    progress_total: { type: DataTypes.INTEGER, allowNull: true },
    result: { type: longText, allowNull: true },
    error: { type: DataTypes.STRING(1000), allowNull: true },
    created_by_type: { type: DataTypes.STRING(16), allowNull: false },
    created_by_id: { type: DataTypes.INTEGER, allowNull: false },
    created_by_name: { type: DataTypes.STRING(120), allowNull: false },
    request_id: { type: DataTypes.STRING(64), allowNull: false },
    request_ip: { type: DataTypes.STRING(64), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
    started_at: { type: DataTypes.DATE(3), allowNull: true },
    finished_at: { type: DataTypes.DATE(3), allowNull: true },
  });
  // The claim: due queued jobs, and running jobs whose lease expired.
  await qi.addIndex('jobs', ['status', 'run_after'], { name: 'jobs_claim' });
  await qi.addIndex('jobs', ['status', 'lease_expires_at'], { name: 'jobs_lease' });
  // Per-key ordering: is an earlier job with this key still queued or running?
  await qi.addIndex('jobs', ['serial_key', 'status', 'id'], { name: 'jobs_serial_key' });
  // At most one unfinished job per unique key (recurring jobs); NULL once it is finished.
  await qi.addIndex('jobs', ['unique_key'], { name: 'jobs_unique_key', unique: true });
  // "My jobs", newest first; admins' filters by type and status.
  await qi.addIndex('jobs', ['created_by_type', 'created_by_id', 'id'], { name: 'jobs_created_by' });
  await qi.addIndex('jobs', ['type', 'status', 'id'], { name: 'jobs_type_status' });
  await qi.addIndex('jobs', ['status', 'id'], { name: 'jobs_status' });
  await qi.addIndex('jobs', ['patient_id', 'id'], { name: 'jobs_patient_id' });
}

/** Drops the queue with every job in it. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('jobs');
}
