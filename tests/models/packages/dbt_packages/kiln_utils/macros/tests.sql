{% test expression_is_true(model, expression, column_name=None) %}
select * from {{ model }} where not ({{ column_name ~ ' ' if column_name }}{{ expression }})
{% endtest %}

{% test at_least_rows(model, n) %}
select 1 as too_few from (select count(*) as c from {{ model }}) where c < {{ n }}
{% endtest %}
