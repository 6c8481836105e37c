{% macro full_name(first, last) -%}
  {{ return(adapter.dispatch('full_name', 'kiln_utils')(first, last)) }}
{%- endmacro %}
{% macro default__full_name(first, last) -%}
  {{ first }} || ' ' || coalesce({{ last }}, '?')
{%- endmacro %}
