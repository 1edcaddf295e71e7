# One pull request per service, kept at the newest commit: merging it deploys that image to the first
# environment only ($ENVIRONMENT); `launchpad promote` takes it further once it is Healthy there.
branch="launchpad/image/$SERVICE"
git switch --create "$branch"
yq --inplace '.image.repository = strenv(IMAGE_REPOSITORY) | .image.tag = strenv(IMAGE_TAG) | .image.digest = strenv(IMAGE_DIGEST)' "$VALUES_FILE"
if git diff --quiet; then
  echo "$VALUES_FILE already deploys $IMAGE_TAG"
  exit 0
fi
git config user.name "github-actions[bot]"
git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
git commit --all --message "$SERVICE: deploy image $IMAGE_TAG to $ENVIRONMENT"
git push --force origin "$branch"
title="$SERVICE: deploy image $IMAGE_TAG to $ENVIRONMENT"
body="Built from $SOURCE_REPOSITORY@$IMAGE_TAG by $RUN_URL"
if [ "$(gh pr list --head "$branch" --state open --json number --jq length)" = "0" ]; then
  gh pr create --base "$BASE_BRANCH" --head "$branch" --title "$title" --body "$body"
else
  gh pr edit "$branch" --title "$title" --body "$body"
fi
