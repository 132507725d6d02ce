// Alerts of a production environment (environmentType prod): messages moving to a poison
// queue, and the rate of 5xx answers of the HTTP functions. Both are log search alerts on
// Application Insights, because neither has a platform metric: Azure Storage reports queue
// depth only for the whole account (QueueMessageCount, hourly), not per queue, and the
// Functions host logs each message it moves to <queue>-poison ("... MaxDequeueCount ...
// Moving message to queue '<queue>-poison'"), which is the event that makes a poison
// queue deeper (only the runbook makes one shallower). Notifications go to an action
// group with the e-mail addresses of alertEmails (none: the alerts fire in the portal only).
metadata description = 'Action group + log search alerts: poison-queue moves and HTTP 5xx rate.'

@description('Prefix of the alert and action group names.')
param namePrefix string

@description('Azure region of the alert rules (the region of Application Insights).')
param location string

@description('Tags applied to the resources.')
param tags object

@description('Resource id of the Application Insights component the alerts query.')
param applicationInsightsResourceId string

@description('E-mail addresses notified when an alert fires; empty: no notification, the alerts show in the portal.')
param alertEmails array = []

@minValue(1)
@maxValue(100)
@description('Percentage of HTTP requests answered 5xx over 15 minutes that fires the 5xx alert.')
param http5xxPercentThreshold int = 5

@minValue(1)
@description('Fewest HTTP requests in the 15-minute window for the 5xx rate to count (a single failed request of a quiet hour is not an outage).')
param http5xxMinimumRequests int = 20

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take('wj-${namePrefix}', 12)
    enabled: true
    emailReceivers: [
      for (address, index) in alertEmails: {
        name: 'email-${index}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

resource poisonQueueAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-poison-queue'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'weather-jobs: messages moved to a poison queue'
    description: 'A queue message failed maxDequeueCount (5) times and was moved to <queue>-poison. Runbook: docs/runbooks.md "Poison queues".'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsResourceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message has "MaxDequeueCount" and message has "-poison" | extend queue = extract(@"queue \'([^\']+)\'", 1, message)'
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'queue'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource http5xxAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-http-5xx'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'weather-jobs: HTTP 5xx rate'
    description: 'More than ${http5xxPercentThreshold}% of HTTP requests answered 5xx in 15 minutes (at least ${http5xxMinimumRequests} requests). The API never answers 500 by design: look at exceptions (docs/operations.md).'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsResourceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | where isnotempty(url) | summarize total = count(), failed = countif(toint(resultCode) >= 500) | where total >= ${http5xxMinimumRequests} | extend percent5xx = 100.0 * failed / total'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'percent5xx'
          operator: 'GreaterThan'
          threshold: http5xxPercentThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

@description('Resource id of the action group.')
output actionGroupId string = actionGroup.id

@description('Names of the alert rules.')
output alertNames array = [
  poisonQueueAlert.name
  http5xxAlert.name
]
