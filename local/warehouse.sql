-- The sample warehouse the demo and the end-to-end tests refresh.
--
--   demand ──────────┬─> demand_by_region ───────┐
--                    │                           ├─> regional_coverage (plain view) ─> coverage_summary ─┐
--   verify_plus ─────│─> verification_by_region ─┘                                                      ├─> executive_dashboard
--                    ├─> demand_by_product (WITH NO DATA) ──────────────────────────────────────────────┘
--                    └─> daily_demand
--
-- Views with a unique index on plain columns can be refreshed CONCURRENTLY once populated;
-- coverage_summary has none, and the two views created WITH NO DATA need a plain first refresh.

CREATE SCHEMA warehouse;

CREATE TABLE warehouse.demand (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch       text    NOT NULL,
  region      text    NOT NULL,
  product     text    NOT NULL,
  quantity    integer NOT NULL,
  demand_date date    NOT NULL
);

CREATE TABLE warehouse.verify_plus (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch      text        NOT NULL,
  region     text        NOT NULL,
  product    text        NOT NULL,
  verified   boolean     NOT NULL,
  checked_at timestamptz NOT NULL DEFAULT now()
);

-- A data-quality guard: a negative quantity makes the refresh of demand_by_region fail
-- instead of publishing a wrong total.
CREATE FUNCTION warehouse.checked_quantity(quantity integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF quantity < 0 THEN
    RAISE EXCEPTION 'demand quantity must not be negative, got %', quantity;
  END IF;
  RETURN quantity;
END
$$;

-- Yesterday's load, so the populated views start with contents.
INSERT INTO warehouse.demand (batch, region, product, quantity, demand_date) VALUES
  ('seed', 'north', 'widget', 10, DATE '2026-01-01'),
  ('seed', 'south', 'gadget', 20, DATE '2026-01-01'),
  ('seed', 'east',  'widget', 5,  DATE '2026-01-02');
INSERT INTO warehouse.verify_plus (batch, region, product, verified, checked_at) VALUES
  ('seed', 'north', 'widget', true,  TIMESTAMPTZ '2026-01-01 08:00:00+00'),
  ('seed', 'south', 'gadget', false, TIMESTAMPTZ '2026-01-01 09:00:00+00');

CREATE MATERIALIZED VIEW warehouse.demand_by_region AS
  SELECT region,
         count(*)::bigint                                AS demand_rows,
         sum(warehouse.checked_quantity(quantity))::bigint AS total_quantity
  FROM warehouse.demand
  GROUP BY region;
CREATE UNIQUE INDEX demand_by_region_key ON warehouse.demand_by_region (region);

CREATE MATERIALIZED VIEW warehouse.verification_by_region AS
  SELECT region,
         count(*)::bigint                             AS checks,
         count(*) FILTER (WHERE verified)::bigint     AS verified_checks
  FROM warehouse.verify_plus
  GROUP BY region;
CREATE UNIQUE INDEX verification_by_region_key ON warehouse.verification_by_region (region);

CREATE VIEW warehouse.regional_coverage AS
  SELECT region,
         coalesce(d.total_quantity, 0)  AS total_quantity,
         coalesce(v.checks, 0)          AS checks,
         coalesce(v.verified_checks, 0) AS verified_checks
  FROM warehouse.demand_by_region d
  FULL JOIN warehouse.verification_by_region v USING (region);

-- Depends on two materialized views through the plain view; no unique index, so never CONCURRENTLY.
CREATE MATERIALIZED VIEW warehouse.coverage_summary AS
  SELECT count(*)::bigint                              AS regions,
         coalesce(sum(total_quantity), 0)::bigint      AS total_quantity,
         coalesce(sum(checks), 0)::bigint              AS checks,
         coalesce(sum(verified_checks), 0)::bigint     AS verified_checks
  FROM warehouse.regional_coverage;

CREATE MATERIALIZED VIEW warehouse.demand_by_product AS
  SELECT product, sum(quantity)::bigint AS total_quantity
  FROM warehouse.demand
  GROUP BY product
  WITH NO DATA;
CREATE UNIQUE INDEX demand_by_product_key ON warehouse.demand_by_product (product);

CREATE MATERIALIZED VIEW warehouse.daily_demand AS
  SELECT demand_date, region, sum(quantity)::bigint AS total_quantity
  FROM warehouse.demand
  GROUP BY demand_date, region;
CREATE UNIQUE INDEX daily_demand_key ON warehouse.daily_demand (demand_date, region);

-- Reads an unpopulated view, so it can only be created WITH NO DATA.
CREATE MATERIALIZED VIEW warehouse.executive_dashboard AS
  SELECT s.regions,
         s.total_quantity,
         s.checks,
         s.verified_checks,
         (SELECT p.product FROM warehouse.demand_by_product p
           ORDER BY p.total_quantity DESC, p.product LIMIT 1) AS top_product
  FROM warehouse.coverage_summary s
  WITH NO DATA;
