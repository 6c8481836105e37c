{% macro log_schemas(schemas) -%}
{% for s in schemas | sort -%}
insert into {{ target.schema }}_audit.run_log select count(*) + 1, 'end', '{{ s }}' from {{ target.schema }}_audit.run_log;
{% endfor %}
{%- endmacro %}
