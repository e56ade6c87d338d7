-- depends: 0008.engine_core
-- Comments only: nothing to undo (0008's rollback drops what they describe, the rest may stay documented).
select 1;
