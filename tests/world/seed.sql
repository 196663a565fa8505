-- Realistic VocaVision data for the tests and the demo. Times are relative to now() so that
-- retention rules (audit_logs 90 days, session_logs 30 days) always have rows on both sides.
-- Password hashes are bcrypt-shaped placeholders, not hashes of real passwords.

INSERT INTO users (id, email, name, password_hash, created_at, last_login, deleted_at) VALUES
  ('user_123', 'user@example.com',            'Alex Example',   '$2b$12$KIXQhJ1pZ3wq0f0mYQmVOeQe6Y1m1m1m1m1m1m1m1m1m1m1m1m1mS', now() - interval '400 days', now() - interval '2 hours',  NULL),
  ('user_456', 'maria.gonzalez@example.com',  'María González', '$2b$12$Ow3dFJ0cVqN4h9lqP1y7EuB2b2b2b2b2b2b2b2b2b2b2b2b2b2b2W', now() - interval '210 days', now() - interval '1 day',    NULL),
  ('user_789', 'kenji.sato@example.com',      'Kenji Sato',     '$2b$12$9sPq1Zr5tUv6wXy7zAb8CuD3c3c3c3c3c3c3c3c3c3c3c3c3c3c3K', now() - interval '500 days', now() - interval '60 days',  now() - interval '40 days'),
  ('user_901', 'amelie.durand@example.com',   'Amélie Durand',  '$2b$12$Lm2Nn3Oo4Pp5Qq6Rr7Ss8Tt4d4d4d4d4d4d4d4d4d4d4d4d4d4dQ', now() - interval '30 days',  NULL,                        NULL);

-- 200 ordinary learners, a few of them dormant.
INSERT INTO users (id, email, name, password_hash, created_at, last_login)
SELECT format('user_g%s', lpad(g::text, 4, '0')),
       format('learner%s@example.org', lpad(g::text, 4, '0')),
       format('Learner %s', g),
       '$2b$12$placeholderplaceholderplaceholderplaceholderplaceho',
       now() - (g || ' days')::interval,
       CASE WHEN g % 10 = 0 THEN now() - interval '120 days' ELSE now() - (g % 7 || ' hours')::interval END
FROM generate_series(1, 200) AS g;

INSERT INTO user_activity (user_id, action, word, details, created_at) VALUES
  ('user_123', 'login',            NULL,          '{"method": "password"}',          now() - interval '2 hours'),
  ('user_123', 'review',           'serendipity', '{"correct": true, "ms": 2140}',   now() - interval '110 minutes'),
  ('user_123', 'review',           'ephemeral',   '{"correct": false, "ms": 5310}',  now() - interval '108 minutes'),
  ('user_123', 'quiz',             NULL,          '{"score": 8, "of": 10}',          now() - interval '100 minutes'),
  ('user_123', 'lesson_completed', NULL,          '{"lesson": "gre-unit-12"}',       now() - interval '95 minutes'),
  ('user_456', 'login',            NULL,          '{"method": "google"}',            now() - interval '1 day'),
  ('user_456', 'review',           'ubiquitous',  '{"correct": true, "ms": 1800}',   now() - interval '23 hours'),
  ('user_789', 'review',           'laconic',     '{"correct": true, "ms": 2600}',   now() - interval '60 days');

INSERT INTO user_activity (user_id, action, word, details, created_at)
SELECT format('user_g%s', lpad((g % 200 + 1)::text, 4, '0')),
       (ARRAY['review', 'quiz', 'login', 'lesson_completed'])[g % 4 + 1],
       (ARRAY['abate', 'benevolent', 'candid', 'diligent', 'enigma', 'frugal'])[g % 6 + 1],
       '{}',
       now() - (g || ' minutes')::interval
FROM generate_series(1, 2000) AS g;

INSERT INTO user_progress (user_id, deck, words_learned, streak_days, mastery, updated_at) VALUES
  ('user_123', 'gre-core',   412, 37, 71.50, now() - interval '95 minutes'),
  ('user_123', 'toefl-1000', 150,  0, 38.25, now() - interval '20 days'),
  ('user_456', 'ielts',      220, 12, 55.00, now() - interval '1 day'),
  ('user_789', 'gre-core',    80,  0, 12.00, now() - interval '60 days');

INSERT INTO user_progress (user_id, deck, words_learned, streak_days, mastery)
SELECT format('user_g%s', lpad(g::text, 4, '0')), 'gre-core', g * 3 % 500, g % 30, (g * 7 % 100)::numeric
FROM generate_series(1, 200) AS g;

INSERT INTO audit_logs (user_id, action, ip_address, details, created_at) VALUES
  ('user_123', 'password_changed',  '203.0.113.7',  '{}',                               now() - interval '150 days'),
  ('user_123', 'login_failed',      '198.51.100.23','{"reason": "bad_password"}',       now() - interval '3 days'),
  ('user_123', 'email_verified',    '203.0.113.7',  '{}',                               now() - interval '2 hours'),
  ('user_456', 'login_failed',      '198.51.100.23','{"reason": "bad_password"}',       now() - interval '5 hours'),
  ('user_789', 'account_deleted',   '192.0.2.44',   '{"mode": "soft"}',                 now() - interval '40 days'),
  (NULL,       'admin_export',      '10.0.0.5',     '{"table": "users", "rows": 204}',  now() - interval '120 days'),
  (NULL,       'config_changed',    '10.0.0.5',     '{"key": "DATABASE_POOL_SIZE"}',    now() - interval '10 days');

INSERT INTO audit_logs (user_id, action, ip_address, created_at)
SELECT format('user_g%s', lpad((g % 200 + 1)::text, 4, '0')), 'login', '192.0.2.10', now() - (g || ' days')::interval
FROM generate_series(1, 180) AS g;

INSERT INTO session_logs (user_id, ip_address, user_agent, created_at, ended_at) VALUES
  ('user_123', '203.0.113.7',  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15', now() - interval '2 hours', NULL),
  ('user_123', '203.0.113.7',  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2) Mobile/15E148',      now() - interval '45 days', now() - interval '45 days' + interval '20 minutes'),
  ('user_456', '198.51.100.4', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0',       now() - interval '1 day',   now() - interval '23 hours'),
  ('user_789', '192.0.2.44',   'Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0',               now() - interval '60 days', now() - interval '60 days' + interval '5 minutes');

INSERT INTO session_logs (user_id, ip_address, user_agent, created_at, ended_at)
SELECT format('user_g%s', lpad((g % 200 + 1)::text, 4, '0')), '192.0.2.10', 'VocaVision/2.3 (Android 14)',
       now() - (g || ' days')::interval, now() - (g || ' days')::interval + interval '15 minutes'
FROM generate_series(1, 60) AS g;

INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, started_at, applied_steps_count) VALUES
  ('0b6f6c4e-8a43-4f0e-9d1a-1c1f0a000001', 'a3f1c9d2e4b5a6978877665544332211a3f1c9d2e4b5a6978877665544332211', now() - interval '300 days', '20230301120000_init',            NULL, now() - interval '300 days', 1),
  ('0b6f6c4e-8a43-4f0e-9d1a-1c1f0a000002', 'b4e2d0c3f5a6b7089988776655443322b4e2d0c3f5a6b7089988776655443322', now() - interval '120 days', '20230815090000_user_progress',   NULL, now() - interval '120 days', 1),
  ('0b6f6c4e-8a43-4f0e-9d1a-1c1f0a000003', 'c5f3e1d4a6b7c8190099887766554433c5f3e1d4a6b7c8190099887766554433', now() - interval '45 days',  '20231120153000_audit_logs',      NULL, now() - interval '45 days',  1),
  ('0b6f6c4e-8a43-4f0e-9d1a-1c1f0a000004', 'd6a4f2e5b7c8d9201100998877665544d6a4f2e5b7c8d9201100998877665544', now() - interval '7 days',   '20240114101500_soft_delete',     NULL, now() - interval '7 days',   1);

ANALYZE;

-- Google sign-in links and open sessions (Auth.js).
INSERT INTO accounts (id, user_id, type, provider, provider_account_id, access_token, scope) VALUES
  ('acc_1', 'user_123', 'oidc', 'google', '104857600000000000123', 'ya29.placeholder-123', 'openid email profile'),
  ('acc_2', 'user_456', 'oidc', 'google', '104857600000000000456', 'ya29.placeholder-456', 'openid email profile'),
  ('acc_3', 'user_901', 'oidc', 'google', '104857600000000000901', 'ya29.placeholder-901', 'openid email profile');

INSERT INTO sessions (id, session_token, user_id, expires) VALUES
  ('ses_1', 'tok-user123-laptop', 'user_123', now() + interval '29 days'),
  ('ses_2', 'tok-user123-phone',  'user_123', now() + interval '12 days'),
  ('ses_3', 'tok-user456-laptop', 'user_456', now() + interval '20 days'),
  ('ses_4', 'tok-user901-phone',  'user_901', now() + interval '2 days');
