import { DataTypes, type QueryInterface } from 'sequelize';

const id = { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false };
const createdAt = { type: DataTypes.DATE(3), allowNull: false };
const updatedAt = { type: DataTypes.DATE(3), allowNull: false };
const fk = (table: string, allowNull: boolean, onDelete = 'RESTRICT') => ({
  type: DataTypes.INTEGER,
  allowNull,
  references: { model: table, key: 'id' },
  onUpdate: 'CASCADE',
  onDelete,
});

/** The first schema: accounts and sessions, the clinical register, revisions, audit, service tokens. */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('doctors', {
    id,
    name: { type: DataTypes.STRING(200), allowNull: false },
    specialization: { type: DataTypes.STRING(200), allowNull: false },
    created_at: createdAt,
    updated_at: updatedAt,
  });
  await qi.addIndex('doctors', ['name'], { name: 'doctors_name' });

  await qi.createTable('patients', {
    id,
    name: { type: DataTypes.STRING(200), allowNull: false },
    age: { type: DataTypes.INTEGER, allowNull: false },
    gender: { type: DataTypes.STRING(32), allowNull: false },
    doctor_id: fk('doctors', true),
    room_number: { type: DataTypes.STRING(32), allowNull: true },
    bed_number: { type: DataTypes.STRING(32), allowNull: true },
    diagnosis: { type: DataTypes.TEXT, allowNull: true },
    prescribed_medicine: { type: DataTypes.TEXT, allowNull: true },
    created_at: createdAt,
    updated_at: updatedAt,
  });
  await qi.addIndex('patients', ['doctor_id', 'id'], { name: 'patients_doctor_id' });
  await qi.addIndex('patients', ['name'], { name: 'patients_name' });

  await qi.createTable('users', {
    id,
    role: { type: DataTypes.STRING(16), allowNull: false },
    username: { type: DataTypes.STRING(80), allowNull: false },
    username_key: { type: DataTypes.STRING(80), allowNull: false },
    email: { type: DataTypes.STRING(254), allowNull: false },
    password_hash: { type: DataTypes.STRING(255), allowNull: false },
    doctor_id: fk('doctors', true),
    patient_id: fk('patients', true),
    disabled_at: { type: DataTypes.DATE(3), allowNull: true },
    created_at: createdAt,
    updated_at: updatedAt,
  });
  await qi.addIndex('users', ['username_key'], { name: 'users_username_key', unique: true });
  await qi.addIndex('users', ['email'], { name: 'users_email', unique: true });
  await qi.addIndex('users', ['doctor_id'], { name: 'users_doctor_id', unique: true });
  await qi.addIndex('users', ['patient_id'], { name: 'users_patient_id', unique: true });
  await qi.addIndex('users', ['role'], { name: 'users_role' });

  await qi.createTable('sessions', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    user_id: fk('users', false, 'CASCADE'),
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
    created_at: createdAt,
  });
  await qi.addIndex('sessions', ['user_id'], { name: 'sessions_user_id' });
  await qi.addIndex('sessions', ['expires_at'], { name: 'sessions_expires_at' });

  await qi.createTable('check_history', {
    id,
    patient_id: fk('patients', false),
    check_time: { type: DataTypes.DATE(3), allowNull: false },
    created_at: createdAt,
  });
  await qi.addIndex('check_history', ['patient_id', 'check_time'], { name: 'check_history_patient_time' });

  await qi.createTable('notes', {
    id,
    patient_id: fk('patients', false),
    author_user_id: fk('users', false),
    author_name: { type: DataTypes.STRING(200), allowNull: false },
    body: { type: DataTypes.TEXT, allowNull: false },
    corrects_note_id: fk('notes', true),
    created_at: createdAt,
  });
  await qi.addIndex('notes', ['patient_id', 'id'], { name: 'notes_patient_id' });
  await qi.addIndex('notes', ['author_user_id'], { name: 'notes_author_user_id' });
  await qi.addIndex('notes', ['corrects_note_id'], { name: 'notes_corrects_note_id' });

  await qi.createTable('patient_revisions', {
    id,
    patient_id: fk('patients', false),
    actor_type: { type: DataTypes.STRING(16), allowNull: false },
    actor_id: { type: DataTypes.INTEGER, allowNull: true },
    actor_name: { type: DataTypes.STRING(120), allowNull: false },
    changes: { type: DataTypes.TEXT, allowNull: false },
    created_at: createdAt,
  });
  await qi.addIndex('patient_revisions', ['patient_id', 'id'], { name: 'patient_revisions_patient_id' });

  await qi.createTable('audit_events', {
    id,
    actor_type: { type: DataTypes.STRING(16), allowNull: false },
    actor_id: { type: DataTypes.INTEGER, allowNull: true },
    actor_name: { type: DataTypes.STRING(120), allowNull: false },
    actor_role: { type: DataTypes.STRING(16), allowNull: false },
    action: { type: DataTypes.STRING(16), allowNull: false },
    patient_id: { type: DataTypes.INTEGER, allowNull: true },
    procedure: { type: DataTypes.STRING(80), allowNull: false },
    request_id: { type: DataTypes.STRING(64), allowNull: false },
    ip: { type: DataTypes.STRING(64), allowNull: true },
    created_at: createdAt,
  });
  await qi.addIndex('audit_events', ['patient_id', 'id'], { name: 'audit_events_patient_id' });
  await qi.addIndex('audit_events', ['actor_type', 'actor_id', 'id'], { name: 'audit_events_actor' });
  await qi.addIndex('audit_events', ['created_at'], { name: 'audit_events_created_at' });

  await qi.createTable('service_tokens', {
    id,
    name: { type: DataTypes.STRING(80), allowNull: false },
    token_hash: { type: DataTypes.STRING(64), allowNull: false },
    token_prefix: { type: DataTypes.STRING(24), allowNull: false },
    scopes: { type: DataTypes.TEXT, allowNull: false },
    expires_at: { type: DataTypes.DATE(3), allowNull: false },
    revoked_at: { type: DataTypes.DATE(3), allowNull: true },
    last_used_at: { type: DataTypes.DATE(3), allowNull: true },
    created_by_user_id: fk('users', false),
    created_at: createdAt,
  });
  await qi.addIndex('service_tokens', ['name'], { name: 'service_tokens_name', unique: true });
  await qi.addIndex('service_tokens', ['token_hash'], { name: 'service_tokens_token_hash', unique: true });
  await qi.addIndex('service_tokens', ['created_by_user_id'], { name: 'service_tokens_created_by' });

  await qi.createTable('login_failures', {
    id,
    key: { type: DataTypes.STRING(200), allowNull: false },
    created_at: createdAt,
  });
  await qi.addIndex('login_failures', ['key', 'created_at'], { name: 'login_failures_key_time' });
}

/** Drops everything `up` created, dependants first. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  for (const table of [
    'login_failures',
    'service_tokens',
    'audit_events',
    'patient_revisions',
    'notes',
    'check_history',
    'sessions',
    'users',
    'patients',
    'doctors',
  ]) {
    await qi.dropTable(table);
  }
}
