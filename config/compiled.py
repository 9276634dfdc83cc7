"""ORM querysets turned into SQL once per process, for the few look-ups of the hottest endpoints
(docs/performance.md, "The hot paths under load").

Building the SQL of a queryset with joins costs more Python time than PostgreSQL takes to answer
the indexed look-up it names. A `CompiledQuery` builds its queryset once per database alias with
placeholder values, keeps the SQL, and runs it with each call's own values; rows come back as the
ORM makes them (model instances with their `select_related` objects, or tuples for `values_list`),
after the database's converters. The queryset stays the one place that says what is read, so
scoping and field lists are the ORM's; only plain filters on the placeholders and
`select_related` / `values_list` / `annotate` are supported (no `prefetch_related`).

The same for the writes of those endpoints: a `CompiledUpdate` is a queryset's `update()`, and a
`CompiledInsert` a new row's `save()` (or `bulk_create()`), their SQL built by the ORM's own
compilers and kept.

Every call goes through Django's cursor, so query counting, `execute_wrapper` and the database
routers (config/replica.py) apply as to any other query.
"""

from itertools import chain

from django.db import connections, router, transaction
from django.db.models import signals
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql import InsertQuery, UpdateQuery


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


class CompiledInsert:
    """`CompiledInsert(Event)`: `insert(event)` stores a new instance as `event.save()` would (the
    fields' own pre_save, such as `auto_now_add`, the pre_save and post_save signals, the primary
    key read back), and `insert_many(items)` new instances as `bulk_create(items)` would (no
    signals; primary keys set where the database returns them). The model's own `save()` is not
    called: only for models whose `save()` adds nothing to the insert of a new row.

    The values are prepared as the ORM's insert compiler prepares them; its SQL is built once per
    database alias and shape of the placeholders (on PostgreSQL one shape for any number of rows,
    an UNNEST of one array per column; elsewhere one per row count, the first SHAPES kept). A
    value that is an expression (F(), Now()) is refused: that is SQL of its own, for `save()`."""

    SHAPES = 32

    def __init__(self, model):
        meta = model._meta
        self.model = model
        self.fields = [
            field for field in meta.local_concrete_fields if field is not meta.auto_field and not field.generated
        ]
        self.returning = meta.db_returning_fields
        self._compilers = {}  # alias → the compiler that prepares values
        self._sql = {}  # (alias, placeholders) → (sql, its compiler, the returned columns' converters)

    def insert(self, obj):
        alias = router.db_for_write(self.model, instance=obj)
        obj._prepare_related_fields_for_save(operation_name="save")
        signals.pre_save.send(sender=type(obj), instance=obj, raw=False, using=alias, update_fields=None)
        self._insert(alias, [obj])
        signals.post_save.send(sender=type(obj), instance=obj, created=True, update_fields=None, raw=False, using=alias)
        return obj

    def insert_many(self, objs):
        objs = list(objs)
        if not objs:
            return objs
        alias = router.db_for_write(self.model, instance=objs[0])
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
        return self._insert(alias, objs)

    def _compiler(self, alias: str):
        if alias not in self._compilers:
            query = InsertQuery(self.model)
            query.insert_values(self.fields, [])
            self._compilers[alias] = query.get_compiler(using=alias)
        return self._compilers[alias]

    def _build(self, alias: str, objs, param_count: int):
        query = InsertQuery(self.model)
        query.insert_values(self.fields, objs)
        compiler = query.get_compiler(using=alias)
        compiler.returning_fields = self.returning
        [(sql, params)] = compiler.as_sql()
        if len(params) != param_count + len(compiler.returning_params):
            raise ValueError(f"the insert of {self.model.__name__} has {len(params)} parameters, not {param_count}")
        meta = self.model._meta
        converters = compiler.get_converters([field.get_col(meta.db_table) for field in self.returning])
        query.objs = []  # kept for its connection and converters only
        return sql, compiler, converters

    def _insert(self, alias: str, objs):
        connection = connections[alias]
        if not connection.features.can_return_rows_from_bulk_insert:  # an old SQLite: the ORM's own way
            manager = self.model._base_manager.using(alias)
            if len(objs) > 1:
                return manager.bulk_create(objs)
            rows = manager._insert(objs, fields=self.fields, returning_fields=self.returning, using=alias)
            return self._returned(alias, objs, rows)
        compiler = self._compiler(alias)
        value_rows = []
        for obj in objs:
            row = []
            for field in self.fields:
                value = compiler.pre_save_val(field, obj)
                if hasattr(value, "resolve_expression"):
                    raise ValueError(f"{self.model.__name__}.{field.name} is an expression: use save()")
                row.append(field.get_db_prep_save(value, connection=connection))
            value_rows.append(row)
        placeholders, param_rows = compiler.assemble_as_sql(self.fields, value_rows)
        params = tuple(chain.from_iterable(param_rows))
        key = (alias, type(placeholders), tuple(tuple(row) if isinstance(row, list) else row for row in placeholders))
        if key in self._sql:
            sql, returning_compiler, converters = self._sql[key]
        else:
            sql, returning_compiler, converters = self._build(alias, objs, len(params))
            if len(self._sql) < self.SHAPES:
                self._sql[key] = (sql, returning_compiler, converters)
        params += tuple(returning_compiler.returning_params)  # none on PostgreSQL or SQLite
        with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = connection.ops.fetch_returned_insert_rows(cursor)
        if converters:
            rows = list(returning_compiler.apply_converters(rows, converters))
        return self._returned(alias, objs, rows)

    def _returned(self, alias: str, objs, rows):
        for obj, row in zip(objs, rows, strict=True):
            for field, value in zip(self.returning, row, strict=True):
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = alias
        return objs
