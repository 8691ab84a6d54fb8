-- Field test of Supabase projects with membership tenancy (issue 13): the
-- idioms real projects use, each of which crashed rowfence or raised a false
-- alarm. Everything here is isolated.
create schema app;
grant usage on schema app to authenticated;          -- not to anon: a whole run once stopped on it

create table app.teams (id uuid primary key default gen_random_uuid(), name text not null);
create table app.members (
  team_id uuid not null references app.teams (id),
  user_id uuid not null references auth.users (id),
  primary key (team_id, user_id)
);
create table app.docs (
  id uuid primary key default gen_random_uuid(),
  team_id uuid not null references app.teams (id),
  body text not null
);
create table app.audit (
  id bigint generated always as identity primary key,
  team_id uuid not null references app.teams (id),
  what text not null
);
-- Only the server touches billing: RLS on, no policy (closed to users by design).
create table app.billing (
  team_id uuid primary key references app.teams (id),
  customer_ref text not null
);
grant select, insert, update, delete on all tables in schema app to authenticated;

create function app.is_member(team uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from app.members m where m.team_id = team and m.user_id = (select auth.uid()))
$$;
-- Members of a team, to the team's own members only.
create function app.member_ids(team uuid) returns setof uuid
language sql stable security definer set search_path = '' as $$
  select m.user_id from app.members m
  where m.team_id = team
    and exists (select 1 from app.members me where me.team_id = team and me.user_id = (select auth.uid()))
$$;
revoke execute on function app.is_member(uuid), app.member_ids(uuid) from public;
grant execute on function app.is_member(uuid), app.member_ids(uuid) to authenticated;

-- A function returning a standalone composite type: rowfence once panicked on it.
create type app.team_card as (id uuid, name text);
create function app.first_team() returns app.team_card
language sql stable as $$ select id, name from app.teams order by name limit 1 $$;

-- An audit trigger, SECURITY DEFINER, writing the same team's audit rows.
create function app.log_doc() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  insert into app.audit (team_id, what) values (new.team_id, 'doc ' || new.id);
  return new;
end $$;
create trigger docs_audit after insert on app.docs for each row execute function app.log_doc();

alter table app.teams enable row level security;
alter table app.members enable row level security;
alter table app.docs enable row level security;
alter table app.audit enable row level security;
alter table app.billing enable row level security;

-- `= true` on a helper, and the helper the other way round.
create policy "see teams" on app.teams for select to authenticated using (app.is_member(id) = true);
-- Anyone signed in may create a team (a new tenant belongs to nobody yet).
create policy "create teams" on app.teams for insert to authenticated with check (true);
-- Without TO: anonymous requests carry no user, so auth.uid() is NULL for them.
create policy "own memberships" on app.members for select using (user_id = (select auth.uid()));
create policy "team docs" on app.docs for all to authenticated
  using ((select auth.uid()) in (select app.member_ids(team_id)))
  with check ((select auth.uid()) in (select app.member_ids(team_id)));
create policy "team audit" on app.audit for select to authenticated using (app.is_member(team_id) = true);

revoke truncate, trigger, references on all tables in schema app from anon, authenticated;
