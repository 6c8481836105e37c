{# generate_surrogate_key(fields): one md5 over the fields, nulls made visible #}
{% macro generate_surrogate_key(field_list) -%}
  {{ return(adapter.dispatch('generate_surrogate_key', 'kiln_utils')(field_list)) }}
{%- endmacro %}

{% macro default__generate_surrogate_key(field_list) -%}
  md5({{ _joined(field_list) }})
{%- endmacro %}

{% macro _joined(field_list) -%}
  {%- for f in field_list -%}
    coalesce(cast({{ f }} as text), '_null_'){% if not loop.last %} || '-' || {% endif %}
  {%- endfor -%}
{%- endmacro %}
