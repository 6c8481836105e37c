{% macro kiln__full_name(first, last) -%}
  upper({{ last }}) || ', ' || {{ first }}
{%- endmacro %}
