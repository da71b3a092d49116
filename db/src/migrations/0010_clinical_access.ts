import { DataTypes, type QueryInterface } from 'sequelize';

const id = { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false };
const at = (allowNull: boolean) => ({ type: DataTypes.DATE(3), allowNull });
const fk = (table: string) => ({
  type: DataTypes.INTEGER,
  allowNull: false,
  references: { model: table, key: 'id' },
  onUpdate: 'CASCADE',
  onDelete: 'RESTRICT',
});

/** The longest reason an emergency access (and an audit row made under one) carries, in characters. */
const REASON_LENGTH = 500;

/**
 * Clinical access beyond the care team. `consent_grants`: a patient's consent that a doctor (a
 * Doctor record) reads and writes their record as the care team does, until `expires_at` (null:
 * until revoked) or `revoked_at`. `emergency_accesses`: a doctor's break-the-glass access to a
 * patient outside their care, with its reason, until `expires_at` or `ended_at`. Both are read,
 * per request, by one query on the doctor's open grants (the `(doctor_id, …)` indexes); the
 * patient's lists use `(patient_id, id)`. Audit rows made under an emergency access name it and
 * carry its reason (`emergency_access_id`, `reason`).
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('consent_grants', {
    id,
    patient_id: fk('patients'),
    doctor_id: fk('doctors'),
    expires_at: at(true),
    revoked_at: at(true),
    created_by_user_id: fk('users'),
    created_at: at(false),
  });
  await qi.addIndex('consent_grants', ['doctor_id', 'revoked_at', 'expires_at'], {
    name: 'consent_grants_doctor_open',
  });
  await qi.addIndex('consent_grants', ['doctor_id', 'id'], { name: 'consent_grants_doctor_id' });
  await qi.addIndex('consent_grants', ['patient_id', 'id'], { name: 'consent_grants_patient_id' });

  await qi.createTable('emergency_accesses', {
    id,
    patient_id: fk('patients'),
    doctor_id: fk('doctors'),
    reason: { type: DataTypes.STRING(REASON_LENGTH), allowNull: false },
    created_by_user_id: fk('users'),
    created_at: at(false),
    expires_at: at(false),
    ended_at: at(true),
  });
  await qi.addIndex('emergency_accesses', ['doctor_id', 'ended_at', 'expires_at'], {
    name: 'emergency_accesses_doctor_open',
  });
  await qi.addIndex('emergency_accesses', ['patient_id', 'id'], { name: 'emergency_accesses_patient_id' });

  await qi.addColumn('audit_events', 'emergency_access_id', { type: DataTypes.INTEGER, allowNull: true });
  await qi.addColumn('audit_events', 'reason', { type: DataTypes.STRING(REASON_LENGTH), allowNull: true });
}

/**
 * Drops both tables and the audit columns. On SQLite the columns go with `ALTER TABLE … DROP
 * COLUMN` (SQLite 3.35+), which keeps the audit table's indexes (Sequelize's own `removeColumn`
 * there rebuilds the table without them).
 */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  for (const column of ['reason', 'emergency_access_id']) {
    if (qi.sequelize.getDialect() === 'sqlite') {
      await qi.sequelize.query(`ALTER TABLE \`audit_events\` DROP COLUMN \`${column}\``);
    } else {
      await qi.removeColumn('audit_events', column);
    }
  }
  await qi.dropTable('emergency_accesses');
  await qi.dropTable('consent_grants');
}
