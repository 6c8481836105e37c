{% macro cents(col) %}({{ col }} * 100){% endmacro %}
{% macro region() %}'eu'{% endmacro %}
