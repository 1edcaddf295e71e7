image="$IMAGE_REPOSITORY:$IMAGE_TAG"
# Tags are immutable and named after the commit: a re-run for the same commit finds its image pushed.
if aws ecr describe-images --repository-name "$ECR_REPOSITORY" --image-ids imageTag="$IMAGE_TAG" >/dev/null 2>&1; then
  echo "$image is already in ECR"
else
  docker build --tag "$image" .
  docker push "$image"
fi
# The digest pins what was built: promotions copy it from one environment to the next.
digest="$(aws ecr describe-images --repository-name "$ECR_REPOSITORY" --image-ids imageTag="$IMAGE_TAG" \
  --query 'imageDetails[0].imageDigest' --output text)"
echo "IMAGE_DIGEST=$digest" >> "$GITHUB_ENV"
