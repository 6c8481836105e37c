{#
  github.repos as the REST API serves it (current values only), with its
  history kept by kiln from the first run on (SCD type 2). The marts take a
  repo's language as of a week from stg_repos, whose history comes from the
  API's history responses and so reaches back before this snapshot began;
  tests/assert_repos_current_matches_history.sql checks the two agree now.
#}
{% snapshot repos_snapshot %}
{{ config(target_schema=target.schema, unique_key='repo_id', strategy='check',
          check_cols=['full_name', 'language']) }}
select repo_id, full_name, coalesce(language, 'Unknown') as language, stargazers_count
from {{ ref('repos') }}
{% endsnapshot %}
