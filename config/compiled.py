"""ORM querysets turned into SQL once per process, for the few look-ups of the hottest endpoints
(docs/performance.md, "The hot paths under load").

Building the SQL of a queryset with joins costs more Python time than PostgreSQL takes to answer
the indexed look-up it names. A `CompiledQuery` builds its queryset once per database alias with
placeholder values, keeps the SQL, and runs it with each call's own values; rows come back as the
ORM makes them (model instances with their `select_related` objects, or tuples for `values_list`),
after the database's converters. The queryset stays the one place that says what is read, so
scoping and field lists are the ORM's; only plain filters on the placeholders and
`select_related` / `values_list` / `annotate` are supported (no `prefetch_related`).

The same for the update of those endpoints: a `CompiledUpdate` is a queryset's `update()`, its SQL
built by the ORM's own compiler and kept. Inserts are the ORM's own `save()` and `bulk_create()`:
building their SQL costs next to nothing.

Every call goes through Django's cursor, so query counting, `execute_wrapper` and the database
routers (config/replica.py) apply as to any other query.
"""

from django.db import connections, router, transaction
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql import UpdateQuery


class CompiledQuery:
    """`CompiledQuery(Code, lambda token: Code.objects.filter(token=token), token="\\x01token")`;
    `query(token=...)` → list of instances. Each placeholder must be a value of the filter's type
    that no real call passes, and must appear in the SQL as a parameter of its own."""

    def __init__(self, model, build, **placeholders):
        self.model = model
        self.build = build
        self.placeholders = placeholders
        self._compiled = {}
        self._readers = {}
        self._for_write = None  # a `select_for_update()` look-up runs where writes go, as in the ORM

    def _statement(self, alias: str):
        """(queryset, compiler, sql, params) of the statement, built with the placeholders."""
        queryset = self.build(**self.placeholders).using(alias)
        compiler = queryset.query.get_compiler(using=alias)
        return (queryset, compiler, *compiler.as_sql())

    def _compile(self, alias: str):
        queryset, compiler, sql, params = self._statement(alias)
        slots = [
            next((name for name, value in self.placeholders.items() if type(p) is type(value) and p == value), None)
            for p in params
        ]
        if set(slots) - {None} != set(self.placeholders):
            raise ValueError(f"placeholders missing from the SQL of {self.model.__name__}: {sql}")
        entry = (queryset, compiler, sql, tuple(params), slots)
        self._compiled[alias] = entry
        return entry

    def _reader(self, alias: str, queryset, compiler):
        """What turns this statement's rows into results: the columns' converters and, for
        instances, the fields each row fills and the populators of its related objects. The ORM
        works them out on every run (compiler.results_iter, ModelIterable); here once per alias."""
        if alias in self._readers:
            return self._readers[alias]
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        composite = compiler.has_composite_fields(columns)
        instances = None
        if queryset._iterable_class is ModelIterable:
            select, klass_info = compiler.select, compiler.klass_info
            start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            init_list = [column[0].target.attname for column in select[start:end]]
            populators = get_related_populators(klass_info, select, alias)
            instances = (klass_info["model"], start, end, init_list, populators, compiler.annotation_col_map or {})
        self._readers[alias] = reader = (converters, composite, columns, instances)
        return reader

    def _alias(self) -> str:
        if self._for_write is None:
            self._for_write = bool(self.build(**self.placeholders).query.select_for_update)
        return router.db_for_write(self.model) if self._for_write else router.db_for_read(self.model)

    def _params(self, alias: str, values: dict):
        queryset, compiler, sql, params, slots = self._compiled.get(alias) or self._compile(alias)
        for name in self.placeholders:
            if values.get(name) is None:
                raise ValueError(f"{name} is required")  # None would need other SQL (IS NULL)
        params = tuple(values[slot] if slot else param for param, slot in zip(params, slots, strict=True))
        return queryset, compiler, sql, params

    def _run(self, values: dict):
        alias = self._alias()
        queryset, compiler, sql, params = self._params(alias, values)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        converters, composite, columns, instances = self._reader(alias, queryset, compiler)
        if converters:
            rows = compiler.apply_converters(rows, converters)
        if composite:
            rows = compiler.composite_fields_to_tuples(rows, columns)
        return alias, instances, rows

    def __call__(self, **values) -> list:
        alias, instances, rows = self._run(values)
        if instances is None:  # values_list(): the rows as they are
            return [tuple(row) for row in rows]
        model, start, end, init_list, populators, annotations = instances
        objects = []
        for row in rows:
            obj = model.from_db(alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


_SCOPE = -901  # the scope's placeholder: no primary key is negative


class ScopedQuery:
    """A CompiledQuery per scope lookup, for the look-ups scoped like visible_batches (one
    `(lookup, value)` from batches.actors.batch_scope). `build(scope_filter, **placeholders)`
    returns the queryset with `scope_filter` (a dict, its key prefixed with `via`) among its
    filters. A boolean value (the city level's `…__isnull=False`) is part of the SQL itself, not a
    parameter, so it gets a compiled query of its own."""

    def __init__(self, model, build, *, via: str = "", **placeholders):
        self.model, self.build, self.via, self.placeholders = model, build, via, placeholders
        self._queries = {}

    def __call__(self, scope: tuple[str, object], **values) -> list:
        lookup, value = scope
        name = self.via + lookup
        if isinstance(value, bool):
            key = (lookup, value)
            if key not in self._queries:
                self._queries[key] = CompiledQuery(
                    self.model, lambda **v: self.build({name: value}, **v), **self.placeholders
                )
            return self._queries[key](**values)
        if lookup not in self._queries:
            self._queries[lookup] = CompiledQuery(
                self.model,
                lambda scope, **v: self.build({name: scope}, **v),
                scope=_SCOPE,
                **self.placeholders,
            )
        return self._queries[lookup](scope=value, **values)


class CompiledUpdate(CompiledQuery):
    """`CompiledUpdate(Code, lambda pk, status: (Code.objects.filter(pk=pk), {"status": status}),
    pk=-901, status="\\x00status")`; `update(pk=..., status=...)` → the number of rows changed,
    as `queryset.update(status=...)` would. The placeholders obey CompiledQuery's rules (a value
    the field's preparation for the database leaves as it is: a number or a string), and the
    queryset filters its own table only (an update across a join is the ORM's to write)."""

    def _alias(self) -> str:
        return router.db_for_write(self.model)

    def _statement(self, alias: str):
        queryset, changes = self.build(**self.placeholders)
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(changes)
        query.clear_ordering(force=True)
        if len(query.alias_map) > 1:
            raise ValueError(f"a compiled update of {self.model.__name__} may not join other tables")
        compiler = query.get_compiler(using=alias)
        return (queryset, compiler, *compiler.as_sql())

    def __call__(self, **values) -> int:
        alias = self._alias()
        _queryset, _compiler, sql, params = self._params(alias, values)
        with transaction.mark_for_rollback_on_error(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
